/* Small DOM helpers for the widget: element builder, safe HTML, time and initials. */

type Child = Node | string;

/** document.createElement with attributes and children; text children become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// The server already sanitized every body (core.sanitize); the widget checks
// again against the same allow-list, so a bug on one side is not a hole.
const ALLOWED = new Set([
  "A", "ABBR", "B", "BLOCKQUOTE", "BR", "CODE", "DEL", "DIV", "EM", "H1", "H2", "H3", "H4", "H5",
  "H6", "HR", "I", "IMG", "LI", "OL", "P", "PRE", "S", "SPAN", "STRONG", "SUB", "SUP", "TABLE",
  "TBODY", "TD", "TH", "THEAD", "TR", "U", "UL",
]);
const ATTRIBUTES: Record<string, string[]> = {
  A: ["href", "title"], IMG: ["src", "alt", "title", "width", "height"],
  TD: ["colspan", "rowspan"], TH: ["colspan", "rowspan"], ABBR: ["title"],
};
const SAFE_URL = /^(https?:|mailto:|tel:)/i;
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

function clean(node: Node): void {
  for (const child of Array.from(node.childNodes)) {
    if (child.nodeType === Node.TEXT_NODE) {
      linkify(child as Text);
      continue;
    }
    if (child.nodeType !== Node.ELEMENT_NODE) {
      child.remove();
      continue;
    }
    const element = child as HTMLElement;
    if (!ALLOWED.has(element.tagName)) {
      // Keep the text of an unknown element, never the element.
      element.replaceWith(document.createTextNode(element.textContent || ""));
      continue;
    }
    const allowed = ATTRIBUTES[element.tagName] || [];
    for (const attribute of Array.from(element.attributes)) {
      const keep = allowed.includes(attribute.name) &&
        (!["href", "src"].includes(attribute.name) || SAFE_URL.test(attribute.value.trim()));
      if (!keep) element.removeAttribute(attribute.name);
    }
    if (element.tagName === "A") {
      element.setAttribute("target", "_blank");
      element.setAttribute("rel", "noopener noreferrer nofollow");
    }
    if (element.tagName !== "A") clean(element);
  }
}

/** Plain-text URLs become links (built as elements, never parsed as HTML). */
function linkify(text: Text): void {
  const value = text.data;
  URL_IN_TEXT.lastIndex = 0;
  if (!URL_IN_TEXT.test(value)) return;
  URL_IN_TEXT.lastIndex = 0;
  const parts = document.createDocumentFragment();
  let last = 0;
  for (const match of value.matchAll(URL_IN_TEXT)) {
    const start = match.index ?? 0;
    parts.append(value.slice(last, start));
    parts.append(el("a", { href: match[0], target: "_blank", rel: "noopener noreferrer nofollow" }, match[0]));
    last = start + match[0].length;
  }
  parts.append(value.slice(last));
  text.replaceWith(parts);
}

/** Puts sanitized ``html`` into ``target`` (parsed inert: a template runs no script). */
export function sanitizeInto(target: HTMLElement, html: string): void {
  const template = document.createElement("template");
  template.innerHTML = html;
  clean(template.content);
  target.replaceChildren(template.content);
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? ""
    : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function initials(name: string): string {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((part) => part[0]!.toUpperCase()).join("") || "?";
}
