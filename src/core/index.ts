export * from "./labels.js";
export * from "./messages.js";
export * from "./segments.js";
export * from "./verdict.js";
