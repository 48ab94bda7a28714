// The choices this browser remembers (localStorage, so every tab and the next visit share
// them): the language, avatar, voice and persona last confirmed by the server.

const KEY = 'avatar-chat.choices';
const NAMES = ['language', 'avatar', 'voice', 'persona'];
// The /ws query names of the choices a new session can start with (docs/protocol.md). The
// persona is not among them: it can be long, and addresses end up in logs.
const QUERY = { language: 'lang', avatar: 'avatar', voice: 'voice' };

/** {language, avatar, voice, persona}: a string each, or null for the server's default. */
export function loadPrefs() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(KEY)) || {};
  } catch {
    /* unreadable: start from the defaults */
  }
  return Object.fromEntries(
    NAMES.map((n) => [n, typeof saved[n] === 'string' && saved[n] ? saved[n] : null]),
  );
}

export function savePrefs(prefs) {
  const kept = Object.fromEntries(NAMES.filter((n) => prefs[n]).map((n) => [n, prefs[n]]));
  localStorage.setItem(KEY, JSON.stringify(kept));
}

/** Drop one remembered choice, e.g. an avatar this server no longer offers. */
export function forgetPref(name) {
  savePrefs({ ...loadPrefs(), [name]: null });
}

/** Put the remembered choices into a /ws URL (a resumed session ignores them). */
export function addPrefsToQuery(url) {
  const prefs = loadPrefs();
  for (const [name, param] of Object.entries(QUERY)) {
    if (prefs[name]) url.searchParams.set(param, prefs[name]);
  }
}
