import preact from "@preact/preset-vite";
import { defineConfig } from "vitest/config";

// The server (not Vite) serves the built files: `redoubt serve` maps /assets/* to
// dist/assets and every client route (/, /login, /r/..., /admin, /search) to index.html
// under a strict Content-Security-Policy. Nothing here may rely on inline script.
export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    // A module-preload polyfill is inline-free in Vite, but we don't need it: every
    // browser we support has modulepreload.
    modulePreload: { polyfill: false },
    target: "es2022",
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
