// REST and socket addresses, with the access token (from ?token=...) appended when the page has one.

const params = new URLSearchParams(window.location.search);
export const token = params.get('token');

/** A same-origin URL with the token added. */
export function withToken(path) {
  const url = new URL(path, window.location.origin);
  if (token) url.searchParams.set('token', token);
  return url.pathname + url.search;
}

/** ws:// or wss:// URL of the training socket. */
export function socketUrl() {
  const url = new URL(withToken('/api/ws'), window.location.origin);
  url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/** An Error whose message is the server's own words (its `detail`), or the HTTP status. */
async function failure(response) {
  let detail = `${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body && body.detail !== undefined) {
      detail = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
    }
  } catch { /* not JSON: keep the status line */ }
  const error = new Error(detail);
  error.status = response.status;
  return error;
}

export async function getJSON(path) {
  const response = await fetch(withToken(path), { headers: { Accept: 'application/json' } });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** POST a CSV text to /api/upload: resolves {handle, rows, dim}, rejects with the server's message. */
export async function uploadCsv(text) {
  const response = await fetch(withToken('/api/upload'), {
    method: 'POST', headers: { 'Content-Type': 'text/csv', Accept: 'application/json' }, body: text,
  });
  if (!response.ok) {
    const error = await failure(response);
    if (response.status === 413) error.message = `the file is too large for this server (${error.message})`;
    throw error;
  }
  return response.json();
}
