// Captions over the talking video: the sentence being spoken at the video's current time.

import { langOf } from './text-lang.js';

export class Captions {
  /**
   * @param {HTMLElement} element where the caption shows
   * @param {{video: HTMLVideoElement, speakingTurn: () => object | undefined}} options
   *   speakingTurn: the turn whose media is playing now (with `captions` [{start, text}] and
   *   `captionsShown`), or undefined when nothing is
   *   language: the session's language (`auto`, `en`, `zh`), for the caption's `lang`
   */
  constructor(element, { video, speakingTurn, language = () => 'auto' }) {
    this.element = element;
    this.video = video;
    this.speakingTurn = speakingTurn;
    this.language = language;
    this.text = '';
    this.looping = false;
  }

  show(text) {
    if (text === this.text) return;
    this.text = text;
    this.element.textContent = text;
    if (text) this.element.lang = langOf(text, this.language());
    this.element.classList.toggle('shown', Boolean(text));
  }

  clear() {
    this.show('');
  }

  /** Follow the video once per animation frame until it stops speaking. */
  start() {
    if (this.looping) return;
    this.looping = true;
    requestAnimationFrame(() => this.#tick());
  }

  #tick() {
    const turn = this.speakingTurn();
    if (!turn) {
      this.looping = false;
      this.clear();
      return;
    }
    const t = this.video.currentTime;
    let caption = null;
    for (const c of turn.captions) if (c.start <= t + 0.05) caption = c;
    if (caption) {
      this.show(caption.text);
      const shown = turn.captionsShown;
      if (shown[shown.length - 1] !== caption.text) shown.push(caption.text);
    }
    requestAnimationFrame(() => this.#tick());
  }
}
