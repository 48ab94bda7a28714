// The HTML `lang` of a piece of text. Chinese and Japanese share the Han characters but not
// their shapes: without lang="zh" a browser may draw Chinese with Japanese glyphs.

const HAN = /\p{Script=Han}/u;

/** `zh` when the text has a Han character or the session speaks Chinese, else `en`. */
export function langOf(text, sessionLanguage) {
  return sessionLanguage === 'zh' || HAN.test(text || '') ? 'zh' : 'en';
}
