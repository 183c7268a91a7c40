// Sign-in against Cognito, straight from the browser (USER_PASSWORD_AUTH, the NEW_PASSWORD_REQUIRED
// challenge, REFRESH_TOKEN_AUTH). Tokens live in sessionStorage: gone when the tab closes.
const TOKENS = 'calbridge.console.tokens';
const REFRESH_MARGIN_MS = 120_000;
let config = null;
let refreshing = null;

export class AuthError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

/** The stack's console config: region, user pool, app client, Cognito endpoint. */
export async function loadConfig() {
  if (!config) {
    const response = await fetch('config.json', { cache: 'no-store' });
    if (!response.ok) throw new AuthError('config', `config.json: HTTP ${response.status}`);
    config = await response.json();
  }
  return config;
}

async function cognito(action, body) {
  const { cognito_endpoint: endpoint } = await loadConfig();
  let response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': `AWSCognitoIdentityProviderService.${action}`,
      },
      body: JSON.stringify(body),
    });
  } catch {
    throw new AuthError('network');
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const code = String(data.__type || 'UnknownError').split('#').pop();
    throw new AuthError(code, data.message);
  }
  return data;
}

function tokens() {
  try {
    return JSON.parse(sessionStorage.getItem(TOKENS)) || null;
  } catch {
    return null;
  }
}

function store(result, previous = {}) {
  sessionStorage.setItem(TOKENS, JSON.stringify({
    id: result.IdToken,
    access: result.AccessToken,
    refresh: result.RefreshToken || previous.refresh,
    expires: Date.now() + (result.ExpiresIn || 3600) * 1000,
  }));
}

/** Resolves {signedIn: true} or {challenge: 'NEW_PASSWORD_REQUIRED', session, username}. */
async function answer(data, username) {
  if (data.AuthenticationResult) {
    store(data.AuthenticationResult);
    return { signedIn: true };
  }
  if (data.ChallengeName === 'NEW_PASSWORD_REQUIRED') {
    return { challenge: data.ChallengeName, session: data.Session, username };
  }
  throw new AuthError(data.ChallengeName || 'UnsupportedChallenge');
}

export async function signIn(username, password) {
  const { client_id: clientId } = await loadConfig();
  const data = await cognito('InitiateAuth', {
    AuthFlow: 'USER_PASSWORD_AUTH',
    ClientId: clientId,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  return answer(data, username);
}

export async function setNewPassword(username, newPassword, session) {
  const { client_id: clientId } = await loadConfig();
  const data = await cognito('RespondToAuthChallenge', {
    ChallengeName: 'NEW_PASSWORD_REQUIRED',
    ClientId: clientId,
    Session: session,
    ChallengeResponses: { USERNAME: username, NEW_PASSWORD: newPassword },
  });
  return answer(data, username);
}

/** New ID and access tokens from the refresh token; false (and signed out) when that fails. */
export function refresh() {
  refreshing ||= (async () => {
    const current = tokens();
    if (!current?.refresh) return false;
    try {
      const { client_id: clientId } = await loadConfig();
      const data = await cognito('InitiateAuth', {
        AuthFlow: 'REFRESH_TOKEN_AUTH',
        ClientId: clientId,
        AuthParameters: { REFRESH_TOKEN: current.refresh },
      });
      if (!data.AuthenticationResult) return false;
      store(data.AuthenticationResult, current);
      return true;
    } catch {
      return false;
    }
  })().finally(() => { refreshing = null; });
  return refreshing;
}

export function hasSession() {
  return Boolean(tokens()?.id);
}

/** The ID token for the API, refreshed first when it is about to expire; null when signed out. */
export async function idToken() {
  const current = tokens();
  if (!current?.id) return null;
  if (current.expires - Date.now() < REFRESH_MARGIN_MS && current.refresh) {
    await refresh();
  }
  return tokens()?.id || null;
}

/** Forget the tokens here and end the user's Cognito sessions: GlobalSignOut invalidates the
 * refresh tokens, so a copied one cannot mint new ID tokens (those already issued expire within
 * the hour; API Gateway does not ask Cognito about revocations). */
export function signOut() {
  const current = tokens();
  sessionStorage.removeItem(TOKENS);
  if (current?.access) cognito('GlobalSignOut', { AccessToken: current.access }).catch(() => {});
}
