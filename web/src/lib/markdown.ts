// The one path that turns message text into markup (threat T12, docs/web-client.md).
//
//   text ──markdown-it──▶ HTML string ──DOMPurify──▶ DocumentFragment ──▶ MessageText
//
// markdown-it runs with raw HTML off, so anything that looks like a tag in a message is
// shown as text. Its output then goes through DOMPurify with an allowlist for exactly
// the markup markdown-it can produce, plus per-element attribute rules, and every URL
// that survives is re-checked with the URL parser after sanitizing. The result is a
// DOM fragment, never a string, so no caller ever assigns innerHTML; under the page's
// Trusted Types CSP the only HTML parsing happens inside DOMPurify, with its own
// 'dompurify' policy.

import DOMPurify from "dompurify";
import type { Config, DOMPurify as Purifier } from "dompurify";
import MarkdownItParser from "markdown-it";
import type { MarkdownIt, StateCore, Token } from "markdown-it";

import { emojiShortcodes } from "./emoji";

export interface RenderOptions {
  /**
   * Usernames that may be mentioned (lower case). When given, `@name` becomes a
   * mention only for these names (and `@here`/`@all`); when absent, any well-formed
   * name does. Pass the same Set object across renders: it is part of the cache key.
   */
  mentionNames?: ReadonlySet<string>;
  /** The viewer's username: mentions of it (and `@here`/`@all`) get `mention-self`. */
  selfName?: string;
}

/** Renders message text to a fresh, sanitized fragment the caller may insert as is. */
export function renderMarkdown(text: string, options: RenderOptions = {}): DocumentFragment {
  const key = cacheKey(text, options);
  let fragment = renderCache.get(key);
  if (fragment === undefined) {
    fragment = renderUncached(text, options);
    renderCache.set(key, fragment);
  }
  return fragment.cloneNode(true) as DocumentFragment;
}

// ---------------------------------------------------------------------------------
// URL policy

const LINK_PROTOCOLS: ReadonlySet<string> = new Set(["http:", "https:", "mailto:"]);
const UPLOAD_PATH = /^\/api\/v1\/files\/[0-9]{1,20}$/;

/**
 * The URL a link may point to, or null. Only absolute http(s) and mailto URLs pass:
 * parsing without a base makes relative and protocol-relative URLs fail, and the URL
 * parser (like the browser that would follow the link) has already dropped the tabs,
 * newlines and leading controls that obfuscated schemes hide behind.
 */
function allowedLinkUrl(raw: string): URL | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  return LINK_PROTOCOLS.has(url.protocol) ? url : null;
}

/**
 * The URL an image may load from, or null: only files stored on this server, so a
 * message can never make a reader's browser fetch from elsewhere (tracking pixels,
 * IP leaks, credential prompts).
 */
function allowedImageUrl(raw: string): URL | null {
  const origin = window.location.origin;
  let url: URL;
  try {
    url = new URL(raw, origin);
  } catch {
    return null;
  }
  const plain = !url.username && !url.password && !url.search && !url.hash;
  return url.origin === origin && plain && UPLOAD_PATH.test(url.pathname) ? url : null;
}

// ---------------------------------------------------------------------------------
// Mentions

const ROOM_MENTIONS: ReadonlySet<string> = new Set(["here", "all"]);
/** A username as the server accepts it: 2-32 chars, starting with a letter or digit. */
const USERNAME = /^[a-z0-9][a-z0-9._-]{1,31}$/;
/**
 * `@name` not glued to a preceding word, address or path (`a@b.com`, `x.com/@bob`)
 * nor followed by more word characters; mirrors the server's parse_mentions. ASCII
 * classes are spelled out: with the `i` flag, `[a-z]` would also match look-alikes
 * such as the Kelvin sign.
 */
const MENTION = /(?<![\p{L}\p{N}\p{M}_@./+-])@([A-Za-z0-9][A-Za-z0-9._-]{1,31})(?![\p{L}\p{N}\p{M}_@])/gu;

/** Where the current render's options travel through markdown-it's env. */
const MENTION_ENV = Symbol("redoubt.mentions");

/**
 * The name `@raw` mentions, or null. Sentence punctuation may cling to the end of a
 * name (`thanks @bob.`), so shorter candidates are tried by dropping trailing `.`,
 * `_`, `-`: with a list of known names the longest known candidate wins; without one
 * only trailing dots are dropped, since `_` and `-` legitimately end usernames.
 */
function resolveMention(raw: string, known: ReadonlySet<string> | undefined): string | null {
  let name = raw.toLowerCase();
  if (known === undefined) {
    name = name.replace(/\.+$/, "");
    return USERNAME.test(name) ? name : null;
  }
  for (;;) {
    if (ROOM_MENTIONS.has(name) || known.has(name)) return name;
    if (name.length <= 2 || !/[._-]$/.test(name)) return null;
    name = name.slice(0, -1);
  }
}

/** Splits one text token into text and mention tokens. */
function splitMentions(token: Token, state: StateCore, options: RenderOptions): Token[] {
  const text = token.content;
  const self = options.selfName?.toLowerCase();
  const out: Token[] = [];
  let consumed = 0;
  const pushText = (content: string): void => {
    if (content === "") return;
    const piece = new state.Token("text", "", 0);
    piece.content = content;
    piece.level = token.level;
    out.push(piece);
  };
  for (const match of text.matchAll(MENTION)) {
    const name = resolveMention(match[1] ?? "", options.mentionNames);
    if (name === null) continue;
    const start = match.index;
    const end = start + 1 + name.length;
    pushText(text.slice(consumed, start));

    const open = new state.Token("mention_open", "span", 1);
    const isSelf = ROOM_MENTIONS.has(name) || name === self;
    open.attrs = [
      ["class", isSelf ? "mention mention-self" : "mention"],
      ["data-mention", name],
    ];
    open.level = token.level;
    const label = new state.Token("text", "", 0);
    label.content = text.slice(start, end); // as typed, e.g. `@Bob`
    label.level = token.level + 1;
    const close = new state.Token("mention_close", "span", -1);
    close.level = token.level;
    out.push(open, label, close);
    consumed = end;
  }
  if (out.length === 0) return [token];
  pushText(text.slice(consumed));
  return out;
}

/**
 * Core rule, run last: by then code spans are `code_inline` tokens (never looked at),
 * links, autolinks and linkified URLs/emails are wrapped in link_open/link_close
 * (skipped), and adjacent text is joined so the look-behind sees real neighbours.
 * Image alt text lives in the image token's children, which are not visited.
 */
function mentionRule(state: StateCore): void {
  const options = state.env[MENTION_ENV] as RenderOptions | undefined;
  if (options === undefined) return;
  for (const block of state.tokens) {
    if (block.type !== "inline" || block.children === null || !block.content.includes("@")) {
      continue;
    }
    let linkDepth = 0;
    const children: Token[] = [];
    for (const token of block.children) {
      if (token.type === "link_open") linkDepth++;
      else if (token.type === "link_close") linkDepth--;
      if (token.type === "text" && linkDepth === 0 && token.content.includes("@")) {
        children.push(...splitMentions(token, state, options));
      } else {
        children.push(token);
      }
    }
    block.children = children;
  }
}

// ---------------------------------------------------------------------------------
// Markdown

function createParser(): MarkdownIt {
  const md = new MarkdownItParser("default", {
    html: false, // raw HTML in a message is text
    linkify: true,
    breaks: true,
    typographer: false,
  });
  // Don't even produce a link or image whose URL could never survive sanitizing. One
  // function serves both, so it admits the union; the sanitizer hooks below apply the
  // per-element rule (a relative upload path is fine for <img>, not for <a>).
  md.validateLink = (url: string): boolean =>
    allowedLinkUrl(url) !== null || allowedImageUrl(url) !== null;
  // A line break is the <br> alone: the "\n" markdown-it adds after it would show as a
  // second break wherever the text is styled `white-space: pre-wrap`.
  md.renderer.rules.softbreak = () => "<br>";
  md.renderer.rules.hardbreak = () => "<br>";
  md.use(emojiShortcodes);
  md.core.ruler.push("mention", mentionRule);
  return md;
}

// ---------------------------------------------------------------------------------
// Sanitizing

const LANGUAGE_CLASS = /^language-[a-z0-9_+-]{1,32}$/;
const MENTION_CLASSES: ReadonlySet<string> = new Set(["mention", "mention-self"]);
const LINK_REL = "noopener noreferrer nofollow";

type AttributeRule = (value: string) => boolean;
const anyValue: AttributeRule = () => true;

/**
 * Attributes allowed per element, each with a check on its value. Anything not listed
 * (style, id, name, on*, data-* other than data-mention...) is dropped. URL attributes
 * are accepted here and checked after sanitizing (see secureLink / secureImage).
 */
const ATTRIBUTE_RULES: Readonly<Record<string, Readonly<Record<string, AttributeRule>>>> = {
  a: { href: anyValue, title: anyValue },
  img: { src: anyValue, alt: anyValue, title: anyValue },
  code: { class: (value) => LANGUAGE_CLASS.test(value) },
  span: {
    class: (value) => value.split(" ").every((name) => MENTION_CLASSES.has(name)),
    "data-mention": (value) => USERNAME.test(value),
  },
  ol: { start: (value) => /^[0-9]{1,9}$/.test(value) },
};

const PURIFY_CONFIG = {
  ALLOWED_TAGS: [
    "p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "span", "img", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "table", "thead", "tbody", "tr", "th", "td",
  ],
  ALLOWED_ATTR: ["href", "title", "alt", "src", "class", "data-mention", "start"],
  // Not URLs: keep DOMPurify from applying its URI pattern to them.
  ADD_URI_SAFE_ATTR: ["data-mention", "start"],
  // A coarse first net for href/src; the hooks make the real decision.
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|\/(?![/\\]))/i,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  ALLOW_UNKNOWN_PROTOCOLS: false,
  KEEP_CONTENT: true,
  RETURN_DOM_FRAGMENT: true,
} satisfies Config;

function secureLink(link: Element): void {
  const href = link.getAttribute("href");
  const url = href === null ? null : allowedLinkUrl(href);
  if (url === null) {
    link.removeAttribute("href"); // unwrapped to its text afterwards
    return;
  }
  link.setAttribute("href", url.href); // exactly what was checked, not the raw form
  link.setAttribute("rel", LINK_REL);
  link.setAttribute("target", "_blank");
}

function secureImage(image: Element): void {
  const src = image.getAttribute("src");
  const url = src === null ? null : allowedImageUrl(src);
  if (url === null) image.removeAttribute("src"); // replaced by its alt text afterwards
  else image.setAttribute("src", url.href);
}

function createPurifier(): Purifier {
  // A private instance, so these hooks never leak into any other use of DOMPurify.
  const purifier = DOMPurify(window);
  if (!purifier.isSupported) {
    // Unsupported DOMPurify returns its input unchanged: refuse rather than render it.
    throw new Error("DOMPurify is not supported in this environment");
  }
  purifier.addHook("uponSanitizeAttribute", (node, event) => {
    const rule = ATTRIBUTE_RULES[node.nodeName.toLowerCase()]?.[event.attrName];
    if (rule === undefined || !rule(event.attrValue)) event.keepAttr = false;
  });
  purifier.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName === "A") secureLink(node);
    else if (node.nodeName === "IMG") secureImage(node);
  });
  return purifier;
}

/**
 * Presentation only, on the already-safe fragment: a link that lost its href becomes
 * its plain content, an image that lost its src becomes its alt text (as text), and
 * the newlines markdown-it puts between block tags go, so the result looks the same
 * whatever `white-space` the message is styled with.
 */
function tidy(root: DocumentFragment): void {
  for (const link of Array.from(root.querySelectorAll("a:not([href])"))) {
    link.replaceWith(...Array.from(link.childNodes));
  }
  for (const image of Array.from(root.querySelectorAll("img:not([src])"))) {
    image.replaceWith(image.getAttribute("alt") ?? "");
  }
  const texts = root.ownerDocument.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const layout: Node[] = [];
  for (let node = texts.nextNode(); node !== null; node = texts.nextNode()) {
    if (/^\n+$/.test(node.nodeValue ?? "") && !node.parentElement?.closest("pre")) {
      layout.push(node);
    }
  }
  for (const node of layout) node.parentNode?.removeChild(node);
}

// ---------------------------------------------------------------------------------
// Rendering and cache

interface Engine {
  parser: MarkdownIt;
  purifier: Purifier;
}

let engine: Engine | undefined;

function getEngine(): Engine {
  engine ??= { parser: createParser(), purifier: createPurifier() };
  return engine;
}

function renderUncached(text: string, options: RenderOptions): DocumentFragment {
  const { parser, purifier } = getEngine();
  const html = parser.render(text, { [MENTION_ENV]: options });
  const fragment = purifier.sanitize(html, PURIFY_CONFIG);
  tidy(fragment);
  // Adopt into this document so the cache doesn't keep DOMPurify's parse document alive.
  return document.importNode(fragment, true);
}

/** A tiny LRU: a Map iterates in insertion order, so the first key is the oldest. */
class LruCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly capacity: number) {}

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}

const renderCache = new LruCache<DocumentFragment>(500);

/** Distinct mention-name sets get distinct ids, so a changed member list re-renders. */
const nameSetIds = new WeakMap<ReadonlySet<string>, number>();
let nextNameSetId = 1;

function cacheKey(text: string, { mentionNames, selfName }: RenderOptions): string {
  let setId = 0;
  if (mentionNames !== undefined) {
    setId = nameSetIds.get(mentionNames) ?? 0;
    if (setId === 0) {
      setId = nextNameSetId++;
      nameSetIds.set(mentionNames, setId);
    }
  }
  // NUL can't occur in a username, so the parts can't run into each other.
  return `${setId}\u0000${selfName ?? ""}\u0000${text}`;
}
