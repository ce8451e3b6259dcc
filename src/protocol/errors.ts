// Every error code the API answers with, and its HTTP status. Errors are always
// {"error": {"code", "message"}}: clients switch on `code` (the web app has a sentence for most),
// the message is for people. README.md lists the same codes (a unit test compares them).

export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_subscription_key: 400,
  invalid_push_endpoint: 400,
  unknown_account: 400,
  invalid_quiet_hours: 400,
  pairing_code_invalid: 400,
  oauth_state_invalid: 400,
  oauth_handoff_invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  imap_host_not_allowed: 403,
  imap_port_not_allowed: 403,
  imap_insecure_not_allowed: 403,
  oauth_denied: 403,
  push_endpoint_not_allowed: 403,
  limit_reached: 403,
  not_found: 404,
  metrics_disabled: 404,
  discovery_failed: 404,
  method_not_allowed: 405,
  account_exists: 409,
  push_subscription_limit: 409,
  account_disabled: 409,
  mailbox_changed: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  imap_auth_failed: 422,
  rate_limited: 429,
  internal_error: 500,
  imap_unreachable: 502,
  oauth_exchange_failed: 502,
  oauth_provider_unavailable: 502,
  unavailable: 503,
  push_not_configured: 503,
  mailbox_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
/** The HTTP status `code` comes with. (invalid_request and internal_error also stand for other 4xx and 5xx.) */
export type ErrorStatus<C extends ErrorCode = ErrorCode> = (typeof ERROR_STATUS)[C];
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}
