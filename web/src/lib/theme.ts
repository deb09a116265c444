// Dark and light themes: CSS variables switched by <html data-theme>, remembered per browser.
import { ref } from "vue";

export type Theme = "dark" | "light";
const KEY = "tradehall.theme";

function initial(): Theme {
  const saved = localStorage.getItem(KEY);
  if (saved === "dark" || saved === "light") return saved;
  return matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

export const theme = ref<Theme>(initial());
document.documentElement.dataset.theme = theme.value;

export function toggleTheme(): void {
  theme.value = theme.value === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = theme.value;
  localStorage.setItem(KEY, theme.value);
}
