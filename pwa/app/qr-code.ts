// Draws a QR code as inline SVG, here in the browser: the pairing URL never leaves the page. The
// encoder is qrcode-generator (npm), whose ES module build.mjs copies to /vendor/ (no bundler; the
// CSP admits scripts from this origin only). It is loaded on first use, so the app's start does
// not wait for it. The SVG is built node by node (one path of dark modules), not parsed from text.

type QrFactory = typeof import('qrcode-generator');
const ENCODER_URL = '/vendor/qrcode-generator.js';
const SVG = 'http://www.w3.org/2000/svg';
/** The quiet zone the standard asks for around the code, in modules. */
const MARGIN = 4;

let encoder: Promise<QrFactory> | undefined;

export async function qrCodeSvg(text: string): Promise<SVGSVGElement> {
  encoder ??= (import(/* runtime path, outside the compiled tree */ ENCODER_URL) as Promise<{ default: QrFactory }>).then((m) => m.default);
  const qr = (await encoder)(0, 'M'); // type 0: the smallest that fits; M: 15 % may be damaged
  qr.addData(text);
  qr.make();
  const count = qr.getModuleCount();
  let d = '';
  for (let row = 0; row < count; row++) {
    for (let col = 0; col < count; col++) if (qr.isDark(row, col)) d += `M${col + MARGIN} ${row + MARGIN}h1v1h-1z`;
  }
  const size = count + 2 * MARGIN;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('aria-hidden', 'true');
  const background = document.createElementNS(SVG, 'rect');
  background.setAttribute('width', String(size));
  background.setAttribute('height', String(size));
  background.setAttribute('fill', '#fff');
  const modules = document.createElementNS(SVG, 'path');
  modules.setAttribute('d', d);
  modules.setAttribute('fill', '#000');
  svg.append(background, modules);
  return svg;
}
