import { useEffect, useRef } from "preact/hooks";

import { useEscape } from "./hooks";

/** The reactions offered in the picker: a short list of the common ones. */
export const COMMON_EMOJI: readonly { emoji: string; name: string }[] = [
  { emoji: "👍", name: "thumbs up" },
  { emoji: "👎", name: "thumbs down" },
  { emoji: "😄", name: "smile" },
  { emoji: "😂", name: "joy" },
  { emoji: "😍", name: "heart eyes" },
  { emoji: "🤔", name: "thinking" },
  { emoji: "😮", name: "surprised" },
  { emoji: "😢", name: "sad" },
  { emoji: "😡", name: "angry" },
  { emoji: "🙏", name: "thanks" },
  { emoji: "👏", name: "clap" },
  { emoji: "🙌", name: "raised hands" },
  { emoji: "🎉", name: "party" },
  { emoji: "❤️", name: "heart" },
  { emoji: "🔥", name: "fire" },
  { emoji: "🚀", name: "rocket" },
  { emoji: "👀", name: "eyes" },
  { emoji: "✅", name: "check" },
  { emoji: "❌", name: "cross" },
  { emoji: "💯", name: "hundred" },
];

export function EmojiPicker(props: { onPick: (emoji: string) => void; onClose: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  useEscape(true, props.onClose);

  useEffect(() => {
    box.current?.querySelector<HTMLButtonElement>("button")?.focus();
    const outside = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) props.onClose();
    };
    // Attach after the click that opened the picker has finished bubbling.
    const timer = setTimeout(() => document.addEventListener("click", outside), 0);
    return () => {
      clearTimeout(timer);
      document.removeEventListener("click", outside);
    };
  }, []);

  return (
    <div ref={box} class="emoji-picker" role="group" aria-label="Pick a reaction" data-testid="emoji-picker">
      {COMMON_EMOJI.map(({ emoji, name }) => (
        <button
          key={emoji}
          type="button"
          class="emoji-option"
          data-testid="emoji-option"
          data-emoji={emoji}
          aria-label={name}
          title={name}
          onClick={() => props.onPick(emoji)}
        >
          {emoji}
        </button>
      ))}
    </div>
  );
}
