// How much of an interrupted reply was actually spoken, so the transcript can show the rest
// as never said. The reply's text streams ahead of its speech; its sentences (the captions,
// with their times in the turn's video) say which part the video had reached.

/** Where `sentence` sits in `text` from `from` on, allowing for different white space. */
function locate(text, sentence, from) {
  const words = sentence.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return null;
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const pattern = new RegExp(escaped.join('\\s+'), 'gu');
  pattern.lastIndex = from;
  const match = pattern.exec(text);
  return match ? { start: match.index, end: match.index + match[0].length } : null;
}

/**
 * The length of the spoken start of `text`.
 * @param {string} text      the reply as shown in the transcript
 * @param {{text: string, start: number, end: number}[]} sentences  in order (captions)
 * @param {number} playedS   how far the turn's video had played (0: not at all)
 */
export function spokenLength(text, sentences, playedS) {
  if (!(playedS > 0)) return 0;
  let cursor = 0;
  for (const sentence of sentences) {
    if (sentence.start > playedS) break;
    // A sentence the splitter changed (e.g. markdown removed) is not found: assume it
    // covers as many characters as it has.
    const at = locate(text, sentence.text, cursor) || {
      start: cursor,
      end: Math.min(text.length, cursor + sentence.text.length),
    };
    if (sentence.end <= playedS) {
      cursor = at.end;
      continue;
    }
    // Cut inside the sentence being spoken, in proportion to its time, at a word's end.
    const fraction = (playedS - sentence.start) / Math.max(sentence.end - sentence.start, 1e-3);
    let cut = at.start + Math.round((at.end - at.start) * fraction);
    const space = text.slice(cut, at.end).search(/\s/);
    if (/\s/.test(text.slice(at.start, at.end))) cut = space < 0 ? at.end : cut + space;
    return cut;
  }
  return cursor;
}
