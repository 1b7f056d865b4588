import { describe, expect, it } from "vitest";

import { QUIET_ZONE, encodeQr, paintQr, qrPixelSize, type QrMatrix, type QrPainter } from "./qr";

/** Records fills into a pixel grid, like a canvas would. */
class FakeCanvas implements QrPainter {
  fillStyle: string | CanvasGradient | CanvasPattern = "";
  readonly pixels: string[][];
  calls = 0;
  constructor(readonly side: number) {
    this.pixels = Array.from({ length: side }, () => Array<string>(side).fill("unpainted"));
  }
  fillRect(x: number, y: number, w: number, h: number): void {
    this.calls++;
    for (let row = y; row < y + h; row++) {
      for (let col = x; col < x + w; col++) {
        const line = this.pixels[row];
        if (!line || col >= this.side) throw new Error(`fill outside the canvas at ${col},${row}`);
        line[col] = String(this.fillStyle);
      }
    }
  }
}

const OTPAUTH = "otpauth://totp/Redoubt:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Redoubt";

describe("encodeQr", () => {
  it("gives a square matrix of a valid QR size with the three finder patterns", async () => {
    const m = await encodeQr(OTPAUTH);
    expect(m.length).toBeGreaterThanOrEqual(21);
    expect((m.length - 17) % 4).toBe(0);
    for (const row of m) expect(row.length).toBe(m.length);
    const n = m.length;
    // A finder pattern: a dark 7x7 ring, a light ring inside, a dark 3x3 core.
    const finderAt = (top: number, left: number) => {
      for (let r = 0; r < 7; r++) {
        for (let c = 0; c < 7; c++) {
          const ring = r === 0 || r === 6 || c === 0 || c === 6;
          const core = r >= 2 && r <= 4 && c >= 2 && c <= 4;
          expect(m[top + r]?.[left + c], `module ${top + r},${left + c}`).toBe(ring || core);
        }
      }
    };
    finderAt(0, 0);
    finderAt(0, n - 7);
    finderAt(n - 7, 0);
  });

  it("encodes different text differently", async () => {
    const a = await encodeQr(OTPAUTH);
    const b = await encodeQr(OTPAUTH.replace("alice", "bob"));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(b));
  });
});

describe("paintQr", () => {
  const matrix: QrMatrix = [
    [true, true, false],
    [false, true, false],
    [true, false, true],
  ];

  it("paints dark modules black on a white square with a quiet zone", () => {
    const scale = 2;
    const side = qrPixelSize(matrix, scale);
    expect(side).toBe((3 + 2 * QUIET_ZONE) * scale);
    const canvas = new FakeCanvas(side);
    paintQr(canvas, matrix, scale);
    matrix.forEach((row, y) =>
      row.forEach((dark, x) => {
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const px = canvas.pixels[(QUIET_ZONE + y) * scale + dy]?.[(QUIET_ZONE + x) * scale + dx];
            expect(px).toBe(dark ? "#000000" : "#ffffff");
          }
        }
      }),
    );
    // The quiet zone is light all round, and nothing is left unpainted.
    expect(canvas.pixels[0]?.every((p) => p === "#ffffff")).toBe(true);
    expect(canvas.pixels[side - 1]?.every((p) => p === "#ffffff")).toBe(true);
    expect(canvas.pixels.flat().includes("unpainted")).toBe(false);
  });

  it("draws a run of dark modules in one rectangle", () => {
    const canvas = new FakeCanvas(qrPixelSize(matrix, 1));
    paintQr(canvas, matrix, 1);
    // Background + one run in row 0 + one in row 1 + two in row 2.
    expect(canvas.calls).toBe(5);
  });
});
