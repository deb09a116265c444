import { createApp } from "vue";
import DeskApp from "./DeskApp.vue";
import "../styles.css";
import "../pages.css";

createApp(DeskApp).mount("#app");
