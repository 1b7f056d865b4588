import { describe, expect, it } from "vitest";

import { MAX_DEVICE_LABEL, deviceLabel, timeAgo, truncate } from "./device";

const UA = {
  chromeLinux:
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
  headlessChrome:
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
  firefoxWindows: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
  safariIphone:
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
  safariMac:
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
  chromeIpad:
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
  chromeAndroid:
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
  edgeWindows:
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.56",
  operaMac:
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
  chromeOs:
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
};

describe("deviceLabel", () => {
  it("names the browser and the system", () => {
    expect(deviceLabel(UA.chromeLinux)).toBe("Chrome on Linux");
    expect(deviceLabel(UA.headlessChrome)).toBe("Chrome on Linux");
    expect(deviceLabel(UA.firefoxWindows)).toBe("Firefox on Windows");
    expect(deviceLabel(UA.safariIphone)).toBe("Safari on iPhone");
    expect(deviceLabel(UA.safariMac)).toBe("Safari on macOS");
    expect(deviceLabel(UA.chromeIpad)).toBe("Chrome on iPad");
    expect(deviceLabel(UA.chromeAndroid)).toBe("Chrome on Android");
    expect(deviceLabel(UA.chromeOs)).toBe("Chrome on ChromeOS");
  });

  it("prefers the most specific browser token", () => {
    expect(deviceLabel(UA.edgeWindows)).toBe("Edge on Windows");
    expect(deviceLabel(UA.operaMac)).toBe("Opera on macOS");
  });

  it("names a browser whose system it doesn't know", () => {
    expect(deviceLabel("Mozilla/5.0 (Plan 9) Gecko/20100101 Firefox/127.0")).toBe("Firefox");
  });

  it("falls back to the raw string, on one line and cut short", () => {
    expect(deviceLabel("python-httpx/0.27.0")).toBe("python-httpx/0.27.0");
    expect(deviceLabel("curl/8.5.0\r\n\tX-Injected: 1")).toBe("curl/8.5.0 X-Injected: 1");
    const long = "SomeBot/1.0 " + "x".repeat(200);
    const label = deviceLabel(long);
    expect(Array.from(label)).toHaveLength(MAX_DEVICE_LABEL);
    expect(label.endsWith("…")).toBe(true);
    expect(label.startsWith("SomeBot/1.0 ")).toBe(true);
  });

  it("labels an empty user agent", () => {
    expect(deviceLabel("")).toBe("Unknown device");
    expect(deviceLabel("  \n ")).toBe("Unknown device");
  });

  it("returns markup-looking input as the same text (JSX escapes it)", () => {
    expect(deviceLabel('<img src=x onerror="alert(1)">')).toBe('<img src=x onerror="alert(1)">');
  });
});

describe("truncate", () => {
  it("never splits a character made of two UTF-16 units", () => {
    expect(truncate("😀😀😀😀", 3)).toBe("😀😀…");
    expect(truncate("short", 10)).toBe("short");
  });
});

describe("timeAgo", () => {
  const now = Date.parse("2024-06-01T12:00:00Z");
  const ago = (ms: number) => new Date(now - ms).toISOString();

  it("speaks in the largest whole unit", () => {
    expect(timeAgo(ago(10_000), now)).toBe("just now");
    expect(timeAgo(ago(60_000), now)).toBe("1 minute ago");
    expect(timeAgo(ago(2 * 60_000 + 30_000), now)).toBe("2 minutes ago");
    expect(timeAgo(ago(3 * 3_600_000), now)).toBe("3 hours ago");
    expect(timeAgo(ago(5 * 86_400_000), now)).toBe("5 days ago");
  });

  it("treats a time in the future as now and shows old times as a date", () => {
    expect(timeAgo(ago(-90_000), now)).toBe("just now");
    expect(timeAgo(ago(90 * 86_400_000), now)).toMatch(/2024/);
    expect(timeAgo("not a date", now)).toBe("unknown");
  });
});
