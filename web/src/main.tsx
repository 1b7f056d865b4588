import { render } from "preact";

import "./ui/app.css";
import { App } from "./ui/App";

const root = document.getElementById("app");
if (root) render(<App />, root);
