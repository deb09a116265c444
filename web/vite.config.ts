// Vite builds the app into the Python package, which serves it at /app/ (docs/web.md): three
// pages, the trading app (index.html) and the light fallback and dealing-desk pages, which
// share only the small modules they import (never the chart or the WebSocket store).
// `npm run dev` serves it with hot reload and forwards the API to a running `tradehall serve`.
import { fileURLToPath, URL } from "node:url";
import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vite";

const api = process.env.TRADEHALL_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/app/",
  plugins: [vue()],
  build: {
    outDir: fileURLToPath(new URL("../src/tradehall/entrypoints/web/dist", import.meta.url)),
    emptyOutDir: true,
    rolldownOptions: {
      input: {
        index: fileURLToPath(new URL("index.html", import.meta.url)),
        fallback: fileURLToPath(new URL("fallback.html", import.meta.url)),
        desk: fileURLToPath(new URL("desk.html", import.meta.url)),
      },
    },
    chunkSizeWarningLimit: 1024,
  },
  server: {
    port: 5173,
    proxy: {
      "/v1/ws": { target: api, ws: true },
      "/v1": api,
      "/openapi.json": api,
    },
  },
});
