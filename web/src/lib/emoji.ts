// Emoji shortcodes for message text: `:tada:` → 🎉.
//
// markdown-it-emoji ships no type declarations, so this module is the typed boundary
// around it. We use its full GitHub-style set (chat users expect `:thumbsup:`,
// `:tada:`, `:rocket:`, which the "light" set lacks) but switch off the ASCII emoticon
// shortcuts (`:)`, `:P`, `8)`, `:/`...): in technical chat they turn ordinary text into
// pictures by surprise, while an explicit `:name:` never does.
//
// The plugin only ever emits the unicode character itself (its renderer returns the
// token content, which comes from its own table), never markup.

// @ts-expect-error -- no declarations are published for markdown-it-emoji
import { full as markdownItEmoji } from "markdown-it-emoji";
import type { MarkdownIt } from "markdown-it";

interface EmojiPluginOptions {
  /** Extra or replacement definitions, name → emoji. */
  defs?: Record<string, string>;
  /** Emoticon shortcuts, name → text forms. */
  shortcuts?: Record<string, string | string[]>;
  /** When non-empty, only these names are enabled. */
  enabled?: string[];
}

const emojiPlugin = markdownItEmoji as (md: MarkdownIt, options?: EmojiPluginOptions) => void;

/** markdown-it plugin: `:shortcode:` → unicode emoji, no emoticon shortcuts. */
export function emojiShortcodes(md: MarkdownIt): void {
  emojiPlugin(md, { shortcuts: {} });
}
