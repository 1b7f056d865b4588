/**
 * QR codes for the authenticator app's `otpauth://` link, drawn with Canvas 2D calls.
 *
 * The encoder (uqr) only computes the module matrix; drawing is ours, so no markup,
 * SVG string or `data:` URL is ever made (the CSP allows images from 'self' and blob:
 * only, and the page has no `innerHTML` at all). The encoder is loaded on demand: only
 * someone setting up a second factor needs it, so it stays out of the first load.
 */

/** Light modules around the code: the standard asks for four so scanners find the edges. */
export const QUIET_ZONE = 4;

/** Dark modules, row by row (`true` = dark), without a quiet zone. */
export type QrMatrix = readonly (readonly boolean[])[];

/**
 * Encode `text` with medium error correction: otpauth links fit a small version at
 * "M", and a screen photographed at an angle loses a few modules.
 */
export async function encodeQr(text: string): Promise<QrMatrix> {
  const { encode } = await import("uqr");
  return encode(text, { ecc: "M", border: 0 }).data;
}

/** The subset of CanvasRenderingContext2D the drawing needs (a fake in unit tests). */
export interface QrPainter {
  fillStyle: string | CanvasGradient | CanvasPattern;
  fillRect(x: number, y: number, w: number, h: number): void;
}

/** Pixels per side of the drawing: the matrix plus the quiet zone, `scale` pixels a module. */
export function qrPixelSize(matrix: QrMatrix, scale: number): number {
  return (matrix.length + 2 * QUIET_ZONE) * scale;
}

/**
 * Paint `matrix` at `scale` pixels a module, dark on light whatever the page's theme
 * (scanners expect dark modules on a light ground). Runs of dark modules in a row are
 * one rectangle, which keeps the call count low and leaves no seams between modules.
 */
export function paintQr(painter: QrPainter, matrix: QrMatrix, scale: number): void {
  const side = qrPixelSize(matrix, scale);
  painter.fillStyle = "#ffffff";
  painter.fillRect(0, 0, side, side);
  painter.fillStyle = "#000000";
  matrix.forEach((row, y) => {
    let x = 0;
    while (x < row.length) {
      if (!row[x]) {
        x++;
        continue;
      }
      const start = x;
      while (x < row.length && row[x]) x++;
      painter.fillRect((QUIET_ZONE + start) * scale, (QUIET_ZONE + y) * scale, (x - start) * scale, scale);
    }
  });
}

/** Size `canvas` for `matrix` and draw it; false when the canvas has no 2D context. */
export function drawQr(canvas: HTMLCanvasElement, matrix: QrMatrix, scale: number): boolean {
  const side = qrPixelSize(matrix, scale);
  canvas.width = side;
  canvas.height = side;
  const ctx = canvas.getContext("2d");
  if (!ctx) return false;
  paintQr(ctx, matrix, scale);
  return true;
}
