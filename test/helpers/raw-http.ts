// One HTTP request sent exactly as given: no client-side normalisation of the method, path,
// headers or body, so the fuzz suite can send what a hostile client would.

import http from 'node:http';
import type { FuzzRequest } from './openapi-fuzz.js';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** Sends a request as given (no client-side normalisation), over a kept-alive connection. */
export function sendRaw(base: string, request: FuzzRequest, agent: http.Agent, timeoutMs = 15_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const body = request.body !== undefined ? Buffer.from(request.body) : undefined;
    const req = http.request({
      host: url.hostname,
      port: url.port,
      method: request.method,
      path: request.path,
      agent,
      headers: { ...request.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    // An upgrade that was accepted: the answer is the 101 (what follows is the stream suite's).
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, headers: res.headers, text: '' });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
