import { createApp } from "vue";
import FallbackApp from "./FallbackApp.vue";
import "../styles.css";
import "../pages.css";

createApp(FallbackApp).mount("#app");
