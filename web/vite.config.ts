// Vite builds the app into the Python package, which serves it at /app/ (docs/web.md).
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
