import type { JSX } from "preact";
import { useLayoutEffect, useRef } from "preact/hooks";

import { renderMarkdown } from "../lib/markdown";

export interface MessageTextProps {
  text: string;
  /** The viewer's username, so mentions of them stand out. */
  selfName?: string;
  /** Names that may be mentioned; keep the same Set across renders (it keys a cache). */
  mentionNames?: ReadonlySet<string>;
}

/**
 * Message text as formatted, sanitized markup. The only component that turns text into
 * markup (docs/web-client.md, threat T12): it inserts the DOM nodes renderMarkdown
 * builds, never an HTML string. Preact renders no children here, so it never touches
 * the nodes we insert.
 */
export function MessageText({ text, selfName, mentionNames }: MessageTextProps): JSX.Element {
  const body = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    body.current?.replaceChildren(renderMarkdown(text, { selfName, mentionNames }));
  }, [text, selfName, mentionNames]);
  return <div class="message-text" data-testid="message-body" ref={body} />;
}
