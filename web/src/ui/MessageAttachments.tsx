import { useLayoutEffect, useMemo, useRef } from "preact/hooks";

import { safeAttachments, type SafeAttachment } from "../lib/attachments";

/**
 * A webhook's attachments under the message text: title (a link only when it is
 * http/https), author, text, fields, and a coloured left border. Everything is a JSX
 * text node (escaped); nothing here goes through the markdown renderer or any HTML sink
 * (docs/web-client.md, threat T12).
 */
export function MessageAttachments(props: { attachments: unknown }) {
  const list = useMemo(() => safeAttachments(props.attachments), [props.attachments]);
  if (list.length === 0) return null;
  return (
    <div class="rich-attachments">
      {list.map((a, i) => (
        <Card key={i} attachment={a} />
      ))}
    </div>
  );
}

function Card({ attachment: a }: { attachment: SafeAttachment }) {
  const box = useRef<HTMLDivElement>(null);
  // The colour goes through the CSSOM (allowed by the CSP), never a style attribute in
  // markup; and only a value that passed safeColor.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (a.color) el.style.borderLeftColor = a.color;
    else el.style.removeProperty("border-left-color");
  }, [a.color]);

  const title = a.title ?? a.link;
  return (
    <div ref={box} class="rich-attachment" data-testid="rich-attachment" data-color={a.color ?? undefined}>
      {a.author && (
        <div class="rich-attachment-author" data-testid="rich-attachment-author">
          {a.author}
        </div>
      )}
      {title && (
        <div class="rich-attachment-title" data-testid="rich-attachment-title">
          {a.link ? (
            <a href={a.link} target="_blank" rel="noopener noreferrer nofollow" data-testid="rich-attachment-link">
              {title}
            </a>
          ) : (
            title
          )}
        </div>
      )}
      {a.text && (
        <div class="rich-attachment-text" data-testid="rich-attachment-text">
          {a.text}
        </div>
      )}
      {a.fields.length > 0 && (
        <dl class="rich-attachment-fields">
          {a.fields.map((f, i) => (
            <div key={i} class={`rich-attachment-field ${f.short ? "short" : ""}`} data-testid="rich-attachment-field">
              <dt>{f.title}</dt>
              <dd>{f.value}</dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}
