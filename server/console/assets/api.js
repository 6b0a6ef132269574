// The console's one way to the server: the JSON API with the staff member's bearer token, as
// every other client uses it. Tokens live in this tab's sessionStorage only (never a cookie, so
// there is nothing for another site to ride on); an expired access token is refreshed once with
// the single-use refresh token, and when the API ends the session the console signs out.

const KEY = 'gp-online.console.session';

/** The tokens of this tab's session, or null. */
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

/** Keeps the tokens a ceremony or a refresh answered. */
export function keep(tokens) {
  sessionStorage.setItem(KEY, JSON.stringify({
    access: tokens.access_token,
    refresh: tokens.refresh_token,
  }));
}

/** Forgets the session in this tab. */
export function forget() {
  sessionStorage.removeItem(KEY);
}

/** A problem+json answer, or a network failure. */
export class ApiError extends Error {
  constructor(status, problem) {
    const fields = (problem.invalid_params || []).map((p) => `${p.name}: ${p.reason}`).join('; ');
    super([problem.title || `The server answered ${status}`, problem.detail, fields]
      .filter(Boolean).join(' — '));
    this.status = status;
    this.code = problem.code;
  }
}

let refreshing = null;

async function refresh() {
  const current = session();
  if (!current) return false;
  refreshing ??= fetch('/api/v1/token/refresh', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: current.refresh }),
  }).then(async (response) => {
    if (!response.ok) return false;
    keep(await response.json());
    return true;
  }).finally(() => { refreshing = null; });
  return refreshing;
}

/** Leaves for the sign-in page, coming back here afterwards. */
export function toSignIn() {
  forget();
  const here = location.pathname + location.search;
  location.assign(`/practice/?next=${encodeURIComponent(here)}`);
}

/**
 * Calls the API: `api('POST', '/api/v1/practice/results/…/release', {comment})`. Mutating
 * calls carry an Idempotency-Key, kept for the one retry after a refresh. Answers the parsed
 * JSON (or the Response itself with `{raw: true}`); throws ApiError otherwise.
 */
export async function api(method, path, body, { raw = false, anonymous = false } = {}) {
  const key = method === 'GET' ? null : crypto.randomUUID();
  const send = () => {
    const headers = {};
    const current = session();
    if (!anonymous && current) headers.Authorization = `Bearer ${current.access}`;
    if (key) headers['Idempotency-Key'] = key;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  };
  let response = await send();
  if (response.status === 401 && !anonymous) {
    if (await refresh()) response = await send();
    if (response.status === 401) {
      toSignIn();
      throw new ApiError(401, { title: 'Your session has ended; sign in again' });
    }
  }
  if (!response.ok) {
    let problem = {};
    try { problem = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, problem);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** Ends the session on the server and in this tab. */
export async function signOut() {
  try {
    await api('DELETE', '/api/v1/practice/session');
  } finally {
    forget();
    location.assign('/practice/');
  }
}

/** Saves a response's body as a file the browser downloads. */
export async function download(response, filename) {
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
