/*
 * Concierge chat widget: one script tag on any site.
 *
 *   <script src="https://support.example.com/static/concierge/widget.js"
 *           data-concierge-key="ck_..." async></script>
 *
 * Everything renders in a shadow root, so the host page's CSS cannot reach
 * it (and ours cannot leak out). The visitor's token lives in localStorage,
 * so the conversation survives page loads; the socket reconnects with
 * backoff and resumes from the last event id it saw, so nothing is lost.
 *
 * Host page API (calls made before the script loads are queued in
 * window.Concierge.q and replayed):
 *   Concierge.open() / close() / toggle()
 *   Concierge.identify({user_id, email, name, signature})   // HMAC from the host's server
 *   Concierge.setAttributes({plan: "pro", ...})
 *   Concierge.on("message" | "open" | "close" | "ready" | "unread" | "error", fn)
 */

import { el, sanitizeInto, formatTime, initials } from "./dom";

type Json = Record<string, any>;
type Handler = (detail: any) => void;

interface Entry {
  id: number;
  ticket_id: number;
  from: "visitor" | "agent";
  author_name: string;
  author_avatar_url: string;
  body_html: string;
  created_at: string;
  attachments: { filename: string; size: number; url: string }[];
}

const EMOJI = ["😀", "😂", "😊", "😍", "🤔", "😢", "😮", "👍", "👎", "🙏", "👏", "🎉", "❤️", "🔥", "✅", "❌"];
const MAX_BACKOFF_MS = 30_000;
const TYPING_SEND_EVERY_MS = 3_000;
const TYPING_STOP_AFTER_MS = 4_000;
const SUGGEST_AFTER_MS = 400;
const SUGGEST_MIN_CHARS = 3;

class ConciergeWidget {
  private base: string;
  private key: string;
  private store: string;
  private handlers: Record<string, Handler[]> = {};
  private config: Json = {};
  private token: string | null;
  private identity: Json | null = null;
  private attributes: Json = {};
  private socket: WebSocket | null = null;
  private socketReady = false;
  private backoff = 1000;
  private reconnectTimer = 0;
  private lastEventId: number;
  private ticketId: number | null;
  private conversationEnded = false;
  private agentReadId = 0;
  private outbox: Json[] = [];
  private pending = new Map<string, HTMLElement>();
  private shown = new Set<number>();
  private unread = 0;
  private isOpen = false;
  private started = false;
  private typingSentAt = 0;
  private typingStopTimer = 0;
  private agentTypingTimer = 0;
  private visitor: Json = {};
  private suggestTimer = 0;
  private suggestAsked = "";
  // elements
  private root!: ShadowRoot;
  private launcher!: HTMLButtonElement;
  private badge!: HTMLElement;
  private panel!: HTMLElement;
  private status!: HTMLElement;
  private log!: HTMLElement;
  private typing!: HTMLElement;
  private notice!: HTMLElement;
  private composer!: HTMLFormElement;
  private input!: HTMLTextAreaElement;
  private fileInput!: HTMLInputElement;
  private emojiPanel!: HTMLElement;
  private emojiButton!: HTMLButtonElement;
  private forms!: HTMLElement;
  private suggest!: HTMLElement;
  private reader!: HTMLElement;

  constructor(base: string, key: string) {
    this.base = base;
    this.key = key;
    this.store = `concierge:${key}:`;
    this.token = this.load("token");
    this.lastEventId = Number(this.load("last_event_id") || 0);
    this.ticketId = Number(this.load("ticket") || 0) || null;
  }

  // --- public API ------------------------------------------------------------------

  open(): void {
    if (this.isOpen) return;
    this.isOpen = true;
    this.save("open", "1");
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.launcher.setAttribute("aria-label", "Close chat");
    this.setUnread(0);
    this.emit("open", {});
    this.ensureStarted().then(() => this.renderMode());
    this.focusFirst();
    this.sendRead();
  }

  close(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.save("open", "");
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.setAttribute("aria-label", "Open chat");
    this.launcher.focus();
    this.emit("close", {});
  }

  toggle(): void {
    this.isOpen ? this.close() : this.open();
  }

  identify(identity: Json): void {
    this.identity = {
      user_id: String(identity.user_id ?? identity.userId ?? ""),
      email: String(identity.email ?? ""),
      name: String(identity.name ?? ""),
      signature: String(identity.signature ?? ""),
    };
    if (this.started) this.restart();
  }

  setAttributes(attributes: Json): void {
    Object.assign(this.attributes, attributes);
    if (this.token) this.post("visitor/", { attributes }).catch(() => undefined);
  }

  on(event: string, fn: Handler): void {
    (this.handlers[event] = this.handlers[event] || []).push(fn);
  }

  off(event: string, fn: Handler): void {
    this.handlers[event] = (this.handlers[event] || []).filter((h) => h !== fn);
  }

  // --- start -------------------------------------------------------------------------

  async boot(): Promise<void> {
    this.render();
    try {
      this.config = await this.get("config/");
    } catch (error) {
      this.emit("error", { message: String((error as Error).message) });
      return; // an origin this channel does not allow: stay invisible
    }
    this.applyConfig();
    this.root.host.removeAttribute("hidden");
    this.emit("ready", { online: this.config.online });
    if (this.token) await this.ensureStarted();
    if (this.load("open")) this.open();
  }

  private applyConfig(): void {
    const host = this.root.host as HTMLElement;
    // CSSOM custom properties: allowed by a strict CSP (no inline style attribute).
    host.style.setProperty("--cc-primary", this.config.primary_color || "#2f5bea");
    host.style.setProperty("--cc-on-primary", this.config.text_color || "#ffffff");
    this.panel.setAttribute("aria-label", this.config.title || "Chat");
    this.panel.querySelector(".cc-title")!.textContent = this.config.title || "Chat";
    this.panel.setAttribute("lang", this.config.language || "en");
    this.updateStatus();
  }

  private updateStatus(): void {
    this.status.textContent = this.config.online
      ? "We're online"
      : this.config.within_business_hours === false
        ? "Outside business hours"
        : "Away right now";
  }

  private ensureStarted(): Promise<void> {
    if (this.started) return Promise.resolve();
    this.started = true;
    return this.startSession();
  }

  private async startSession(): Promise<void> {
    let data: Json;
    try {
      data = await this.post("session/", {
        identity: this.identity,
        name: "",
        attributes: this.attributes,
      });
    } catch (error) {
      this.started = false;
      this.showNotice(String((error as Error).message), true);
      this.emit("error", { message: String((error as Error).message) });
      return;
    }
    if (data.token !== this.token) {
      this.token = data.token;
      this.save("token", data.token);
      this.lastEventId = 0;
      this.save("last_event_id", "0");
    }
    this.visitor = data.visitor || {};
    this.config = { ...this.config, ...(data.config || {}) };
    this.applyConfig();
    // Rebuilt from the server's history; messages still on their way stay, at the end.
    const inFlight = Array.from(this.pending.values());
    this.log.replaceChildren();
    this.shown.clear();
    const latest = (data.conversations || [])[0];
    if (latest) {
      this.ticketId = latest.ticket_id;
      this.conversationEnded = latest.status === "ended" || latest.ticket_status === "closed";
      this.agentReadId = latest.agent_read_entry_id || 0;
      this.save("ticket", String(latest.ticket_id));
      for (const entry of latest.entries || []) this.showEntry(entry, false);
    } else {
      this.ticketId = null;
      this.save("ticket", "");
    }
    for (const bubble of inFlight) this.log.appendChild(bubble);
    this.showGreeting();
    this.renderMode();
    this.connect();
  }

  private restart(): void {
    this.started = false;
    this.disconnect();
    this.ensureStarted().then(() => this.renderMode());
  }

  // --- socket -----------------------------------------------------------------------------

  private connect(): void {
    if (!this.token || this.socket) return;
    const url = this.base.replace(/^http/, "ws") + `/ws/widget/?key=${encodeURIComponent(this.key)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "resume", token: this.token, last_event_id: this.lastEventId }));
    };
    socket.onmessage = (message) => this.onFrame(JSON.parse(message.data));
    socket.onclose = (event) => {
      this.socket = null;
      this.socketReady = false;
      this.setConnection(false);
      if (event.code === 4401) {
        // The session is gone (token refused): start a fresh one.
        this.token = null;
        this.save("token", "");
        this.restart();
        return;
      }
      if (event.code === 4403) return; // origin refused: retrying cannot help
      const wait = Math.min(this.backoff, MAX_BACKOFF_MS) * (0.75 + Math.random() * 0.5);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      this.reconnectTimer = window.setTimeout(() => this.connect(), wait);
    };
  }

  private disconnect(): void {
    window.clearTimeout(this.reconnectTimer);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close();
    }
    this.socket = null;
    this.socketReady = false;
  }

  private setConnection(connected: boolean): void {
    this.panel.classList.toggle("cc-offline-link", !connected);
    this.root.host.setAttribute("data-connected", connected ? "true" : "false");
  }

  private onFrame(frame: Json): void {
    switch (frame.type) {
      case "ready":
        this.socketReady = true;
        this.backoff = 1000;
        this.setConnection(true);
        this.rememberEventId(frame.last_event_id);
        this.flushOutbox();
        this.sendRead();
        break;
      case "event":
        this.rememberEventId(frame.id);
        this.onEvent(frame.kind, frame.data);
        break;
      case "ack":
        this.onAck(frame);
        break;
      case "conversation":
        this.ticketId = frame.ticket_id;
        this.save("ticket", String(frame.ticket_id));
        break;
      case "error":
        this.onError(frame);
        break;
    }
  }

  private rememberEventId(id: unknown): void {
    if (typeof id === "number" && id > this.lastEventId) {
      this.lastEventId = id;
      this.save("last_event_id", String(id));
    }
  }

  private onEvent(kind: string, data: Json): void {
    if (kind === "entry.created") {
      if (data.ticket_id !== this.ticketId) {
        this.ticketId = data.ticket_id;
        this.save("ticket", String(data.ticket_id));
      }
      this.showEntry(data as Entry, true);
      if (data.from === "agent") {
        this.showTyping("", false);
        this.conversationEnded = false;
        this.markAllRead(data.id);
        this.emit("message", { author: data.author_name, text: textOf(data.body_html) });
        this.sendRead();
      }
    } else if (kind === "typing") {
      this.showTyping(data.author_name || "An agent", Boolean(data.is_typing));
    } else if (kind === "read" && data.reader === "agent") {
      this.markAllRead(data.entry_id);
    } else if (kind === "chat.ended") {
      this.conversationEnded = true;
      this.showNotice("This chat has ended. Write again to continue, or ask for the transcript.");
    }
  }

  private onAck(frame: Json): void {
    const bubble = this.pending.get(frame.client_id);
    this.pending.delete(frame.client_id);
    this.outbox = this.outbox.filter((m) => m.client_id !== frame.client_id);
    if (frame.ticket_id && frame.ticket_id !== this.ticketId) {
      this.ticketId = frame.ticket_id;
      this.save("ticket", String(frame.ticket_id));
    }
    this.conversationEnded = false;
    this.renderMode();
    if (bubble) {
      bubble.dataset.entryId = String(frame.entry.id);
      this.shown.add(frame.entry.id);
      this.setState(bubble, "Sent");
    } else {
      this.showEntry(frame.entry, false);
    }
  }

  private onError(frame: Json): void {
    if (frame.client_id) {
      const bubble = this.pending.get(frame.client_id);
      this.pending.delete(frame.client_id);
      this.outbox = this.outbox.filter((m) => m.client_id !== frame.client_id);
      if (bubble) this.setState(bubble, "Not sent", true);
    }
    this.showNotice(frame.message || "Something went wrong.", true);
    this.emit("error", { code: frame.code, message: frame.message });
  }

  private send(frame: Json): boolean {
    if (this.socket && this.socketReady) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  private flushOutbox(): void {
    for (const message of this.outbox) {
      // A message queued before its chat existed joins the chat its predecessor opened.
      if (message.ticket_id == null && this.ticketId) message.ticket_id = this.ticketId;
      this.send(message);
    }
  }

  private sendRead(): void {
    if (!this.isOpen || !this.ticketId) return;
    const agentEntries = this.log.querySelectorAll<HTMLElement>(".cc-from-agent[data-entry-id]");
    const last = agentEntries[agentEntries.length - 1];
    if (last) this.send({ type: "read", ticket_id: this.ticketId, entry_id: Number(last.dataset.entryId) });
  }

  // --- sending ----------------------------------------------------------------------------

  private submitMessage(): void {
    const body = this.input.value;
    if (!body.trim()) return;
    const limit = 5000;
    if (body.length > limit) {
      this.showNotice(`The message is ${body.length} characters; the limit is ${limit}.`, true);
      return;
    }
    this.input.value = "";
    this.showSuggestions([]);
    this.stopTyping();
    const clientId = Math.random().toString(36).slice(2) + Date.now().toString(36);
    const bubble = this.bubble("visitor", "You", "", body, new Date().toISOString(), []);
    this.setState(bubble, "Sending…");
    this.pending.set(clientId, bubble);
    const frame = {
      type: "message",
      body,
      client_id: clientId,
      ticket_id: this.conversationEnded && !this.ticketId ? null : this.ticketId,
      page_url: location.href.slice(0, 500),
    };
    this.outbox.push(frame);
    this.ensureStarted().then(() => {
      if (!this.send(frame)) this.connect();
    });
  }

  private async uploadFiles(files: FileList): Promise<void> {
    if (!files.length) return;
    await this.ensureStarted();
    const form = new FormData();
    for (const file of Array.from(files)) form.append("file", file);
    if (this.ticketId) form.append("ticket_id", String(this.ticketId));
    form.append("page_url", location.href.slice(0, 500));
    this.showNotice(`Sending ${files.length === 1 ? files[0].name : files.length + " files"}…`);
    try {
      const data = await this.request("upload/", { method: "POST", body: form });
      this.ticketId = data.ticket_id;
      this.save("ticket", String(data.ticket_id));
      this.showEntry(data.entry, false);
      this.showNotice("");
      this.connect();
    } catch (error) {
      this.showNotice(String((error as Error).message), true);
    } finally {
      this.fileInput.value = "";
    }
  }

  private onInput(): void {
    this.suggestLater(this.input.value);
    const now = Date.now();
    if (this.ticketId && now - this.typingSentAt > TYPING_SEND_EVERY_MS) {
      this.typingSentAt = now;
      this.send({ type: "typing", ticket_id: this.ticketId, is_typing: true });
    }
    window.clearTimeout(this.typingStopTimer);
    this.typingStopTimer = window.setTimeout(() => this.stopTyping(), TYPING_STOP_AFTER_MS);
  }

  // --- help articles while the first message is typed (deflection) -------------------------

  /** Before a chat exists, articles that may answer what is being typed (after a pause). */
  private suggestLater(text: string): void {
    window.clearTimeout(this.suggestTimer);
    const query = text.trim();
    if ((this.ticketId && !this.conversationEnded) || query.length < SUGGEST_MIN_CHARS) {
      if (!query) this.showSuggestions([]);
      return;
    }
    this.suggestTimer = window.setTimeout(async () => {
      if (query === this.suggestAsked) return;
      this.suggestAsked = query;
      try {
        await this.ensureStarted();
        const found = await this.get(`suggestions/?q=${encodeURIComponent(query)}&lang=${encodeURIComponent(navigator.language)}`);
        if (query === this.suggestAsked) this.showSuggestions(found.articles || []);
      } catch {
        /* suggestions are a help, never an obstacle */
      }
    }, SUGGEST_AFTER_MS);
  }

  private showSuggestions(articles: Json[]): void {
    if (!articles.length) this.suggestAsked = "";
    this.suggest.hidden = !articles.length;
    const list = el("ul", {});
    for (const article of articles) {
      const open = el("button", { type: "button", class: "cc-link cc-suggestion" }, article.title);
      open.addEventListener("click", () => this.readArticle(article.id));
      list.appendChild(el("li", {}, open, el("span", { class: "cc-snippet" }, article.snippet)));
    }
    this.suggest.replaceChildren(el("p", { class: "cc-suggest-title", id: "cc-suggest-title" }, "These articles may help"), list);
  }

  /** Opens a suggested article inside the panel; Back returns to the message, kept as typed. */
  private async readArticle(id: number): Promise<void> {
    let article: Json;
    try {
      article = await this.get(`articles/${id}/?via=suggestion&lang=${encodeURIComponent(navigator.language)}`);
    } catch (error) {
      this.showNotice(String((error as Error).message), true);
      return;
    }
    const back = el("button", { type: "button", class: "cc-link" }, "← Back to the chat");
    back.addEventListener("click", () => this.closeArticle());
    const body = el("div", { class: "cc-article-body" });
    sanitizeInto(body, article.body_html);
    this.reader.replaceChildren(
      back,
      el("h3", { class: "cc-article-title", tabindex: "-1" }, article.title),
      body,
      el("a", { href: article.url, target: "_blank", rel: "noopener" }, "Open in the help center"),
    );
    this.panel.classList.add("cc-reading");
    this.reader.hidden = false;
    (this.reader.querySelector("h3") as HTMLElement).focus();
  }

  private closeArticle(): void {
    this.panel.classList.remove("cc-reading");
    this.reader.hidden = true;
    this.focusFirst();
  }

  private stopTyping(): void {
    window.clearTimeout(this.typingStopTimer);
    if (this.typingSentAt && this.ticketId) {
      this.send({ type: "typing", ticket_id: this.ticketId, is_typing: false });
    }
    this.typingSentAt = 0;
  }

  // --- HTTP ---------------------------------------------------------------------------------

  private async request(path: string, init: RequestInit = {}): Promise<Json> {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
    if (this.token) headers["X-Concierge-Visitor"] = this.token;
    const response = await fetch(`${this.base}/widget/${encodeURIComponent(this.key)}/${path}`, {
      ...init,
      headers,
      credentials: "omit",
      mode: "cors",
    });
    let data: Json = {};
    try {
      data = await response.json();
    } catch {
      data = {};
    }
    if (!response.ok) throw new Error(data.message || `The chat server answered ${response.status}.`);
    return data;
  }

  private get(path: string): Promise<Json> {
    return this.request(path);
  }

  private post(path: string, body: Json): Promise<Json> {
    return this.request(path, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" },
    });
  }

  // --- rendering ----------------------------------------------------------------------------

  private render(): void {
    const host = document.createElement("div");
    host.id = "concierge-chat";
    host.setAttribute("hidden", "");
    document.body.appendChild(host);
    this.root = host.attachShadow({ mode: "open" });
    const stylesheet = el("link", { rel: "stylesheet", href: `${this.base}/static/concierge/widget.css` });
    this.badge = el("span", { class: "cc-badge", hidden: "" });
    this.launcher = el(
      "button",
      { class: "cc-launcher", type: "button", "aria-label": "Open chat", "aria-expanded": "false", "aria-controls": "cc-panel" },
      el("span", { class: "cc-launcher-icon", "aria-hidden": "true" }, "💬"),
      this.badge,
    ) as HTMLButtonElement;
    this.launcher.addEventListener("click", () => this.toggle());

    this.status = el("p", { class: "cc-status", role: "status" });
    const closeButton = el("button", { class: "cc-icon-button", type: "button", "aria-label": "Close chat" }, "×");
    closeButton.addEventListener("click", () => this.close());
    const header = el(
      "header",
      { class: "cc-header" },
      el("div", {}, el("h2", { class: "cc-title", id: "cc-title" }, "Chat"), this.status),
      closeButton,
    );
    this.log = el("div", { class: "cc-log", role: "log", "aria-live": "polite", "aria-label": "Messages", tabindex: "0" });
    this.typing = el("p", { class: "cc-typing", "aria-live": "polite" });
    this.notice = el("p", { class: "cc-notice", role: "alert", hidden: "" });
    this.forms = el("div", { class: "cc-forms" });
    this.suggest = el("nav", { class: "cc-suggest", "aria-labelledby": "cc-suggest-title", hidden: "" });
    this.reader = el("article", { class: "cc-article", "aria-label": "Help article", hidden: "" });

    this.input = el("textarea", {
      id: "cc-input", class: "cc-input", rows: "2", maxlength: "5000", placeholder: "Write a message…",
    }) as HTMLTextAreaElement;
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submitMessage();
      }
    });
    this.input.addEventListener("input", () => this.onInput());
    this.fileInput = el("input", { type: "file", id: "cc-file", class: "cc-visually-hidden", multiple: "" }) as HTMLInputElement;
    this.fileInput.addEventListener("change", () => this.uploadFiles(this.fileInput.files!));
    const attach = el("label", { class: "cc-icon-button", for: "cc-file", title: "Attach a file" },
      el("span", { class: "cc-visually-hidden" }, "Attach a file"), el("span", { "aria-hidden": "true" }, "📎"));
    attach.setAttribute("tabindex", "0");
    attach.setAttribute("role", "button");
    attach.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this.fileInput.click();
      }
    });
    this.emojiButton = el("button", {
      type: "button", class: "cc-icon-button", "aria-label": "Insert emoji", "aria-expanded": "false", "aria-controls": "cc-emoji",
    }, "🙂") as HTMLButtonElement;
    this.emojiPanel = el("div", { id: "cc-emoji", class: "cc-emoji", role: "group", "aria-label": "Emoji", hidden: "" });
    for (const emoji of EMOJI) {
      const button = el("button", { type: "button", class: "cc-emoji-choice", "aria-label": `Insert ${emoji}` }, emoji);
      button.addEventListener("click", () => this.insertEmoji(emoji));
      this.emojiPanel.appendChild(button);
    }
    this.emojiButton.addEventListener("click", () => this.toggleEmoji());
    this.composer = el(
      "form",
      { class: "cc-composer", "aria-label": "Send a message" },
      el("label", { for: "cc-input", class: "cc-visually-hidden" }, "Message"),
      this.input,
      el("div", { class: "cc-tools" }, this.emojiButton, attach, this.fileInput,
        el("button", { type: "submit", class: "cc-send" }, "Send")),
    ) as HTMLFormElement;
    this.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitMessage();
    });
    const transcript = el("button", { type: "button", class: "cc-link" }, "Email me the transcript");
    transcript.addEventListener("click", () => this.showTranscriptForm());
    const footer = el("footer", { class: "cc-footer" }, transcript);

    this.panel = el(
      "section",
      { id: "cc-panel", class: "cc-panel", role: "dialog", "aria-labelledby": "cc-title", hidden: "" },
      header, this.reader, this.log, this.typing, this.notice, this.forms, this.suggest, this.emojiPanel, this.composer, footer,
    );
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        if (!this.emojiPanel.hidden) this.toggleEmoji(false);
        else if (!this.reader.hidden) this.closeArticle();
        else this.close();
      }
    });
    this.root.append(stylesheet, this.panel, this.launcher);
  }

  private focusFirst(): void {
    window.setTimeout(() => {
      const field = this.forms.querySelector<HTMLElement>("input, textarea");
      (field && !this.forms.hidden ? field : this.input).focus();
    }, 0);
  }

  private toggleEmoji(force?: boolean): void {
    const show = force ?? this.emojiPanel.hidden;
    this.emojiPanel.hidden = !show;
    this.emojiButton.setAttribute("aria-expanded", String(show));
    if (show) (this.emojiPanel.firstElementChild as HTMLElement)?.focus();
    else this.emojiButton.focus();
  }

  private insertEmoji(emoji: string): void {
    const start = this.input.selectionStart ?? this.input.value.length;
    const end = this.input.selectionEnd ?? start;
    this.input.value = this.input.value.slice(0, start) + emoji + this.input.value.slice(end);
    this.toggleEmoji(false);
    this.input.focus();
    this.input.selectionStart = this.input.selectionEnd = start + emoji.length;
  }

  private showGreeting(): void {
    if (this.log.childElementCount || !this.config.greeting) return;
    this.log.appendChild(el("p", { class: "cc-greeting" }, this.config.greeting));
  }

  /** Which form the panel shows: offline message, pre-chat, or the live composer. */
  private renderMode(): void {
    this.forms.replaceChildren();
    if (this.ticketId && !this.conversationEnded) this.showSuggestions([]);
    const live = Boolean(this.config.online) || (this.ticketId !== null && !this.conversationEnded);
    const needsDetails =
      this.config.pre_chat_form && !this.visitor.identified && !this.visitor.email && !this.ticketId;
    if (!live) {
      this.composer.hidden = true;
      this.forms.hidden = false;
      this.forms.appendChild(this.offlineForm());
    } else if (needsDetails) {
      this.composer.hidden = true;
      this.forms.hidden = false;
      this.forms.appendChild(this.preChatForm());
    } else {
      this.composer.hidden = false;
      this.forms.hidden = true;
    }
  }

  private field(id: string, label: string, type: string, required: boolean, value = ""): HTMLElement {
    const input = el(type === "textarea" ? "textarea" : "input", {
      id, name: id.replace("cc-", ""), ...(type === "textarea" ? { rows: "3" } : { type }),
      ...(required ? { required: "" } : {}), class: "cc-field-input",
    }) as HTMLInputElement;
    input.value = value;
    return el("p", { class: "cc-field" }, el("label", { for: id }, label), input);
  }

  private offlineForm(): HTMLElement {
    const form = el("form", { class: "cc-form", "aria-label": "Leave a message" },
      el("p", { class: "cc-offline-text" }, this.config.offline_message || "We're away. Leave a message."),
      this.field("cc-offline-name", "Your name", "text", false, this.visitor.name || ""),
      this.field("cc-offline-email", "Your email", "email", true, this.visitor.email || ""),
      this.field("cc-offline-body", "Message", "textarea", true),
      el("button", { type: "submit", class: "cc-send" }, "Send message"),
    ) as HTMLFormElement;
    const body = form.querySelector("textarea")!;
    body.addEventListener("input", () => this.suggestLater(body.value));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      try {
        await this.post("offline/", {
          name: data.get("offline-name"), email: data.get("offline-email"), body: data.get("offline-body"),
          page_url: location.href.slice(0, 500),
        });
        this.showSuggestions([]);
        form.replaceChildren(el("p", { class: "cc-thanks", role: "status" },
          `Thanks! We'll answer by email at ${data.get("offline-email")}.`));
      } catch (error) {
        this.showNotice(String((error as Error).message), true);
      }
    });
    return form;
  }

  private preChatForm(): HTMLElement {
    const form = el("form", { class: "cc-form", "aria-label": "Before we start" },
      this.field("cc-prechat-name", "Your name", "text", true),
      this.field("cc-prechat-email", "Your email", "email", true),
      el("button", { type: "submit", class: "cc-send" }, "Start chat"),
    ) as HTMLFormElement;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      try {
        await this.ensureStarted();
        const saved = await this.post("visitor/", { name: data.get("prechat-name"), email: data.get("prechat-email") });
        this.visitor = { ...this.visitor, ...saved };
        this.renderMode();
        this.input.focus();
      } catch (error) {
        this.showNotice(String((error as Error).message), true);
      }
    });
    return form;
  }

  private showTranscriptForm(): void {
    if (!this.ticketId) {
      this.showNotice("There is no conversation to send yet.");
      return;
    }
    this.forms.hidden = false;
    const form = el("form", { class: "cc-form", "aria-label": "Email the transcript" },
      this.field("cc-transcript-email", "Send the transcript to", "email", true, this.visitor.email || ""),
      el("button", { type: "submit", class: "cc-send" }, "Send transcript"),
    ) as HTMLFormElement;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const sent = await this.post("transcript/", {
          ticket_id: this.ticketId, email: new FormData(form).get("transcript-email"),
        });
        this.renderMode();
        this.showNotice(`The transcript is on its way to ${sent.email}.`);
      } catch (error) {
        this.showNotice(String((error as Error).message), true);
      }
    });
    this.forms.replaceChildren(form);
    (form.querySelector("input") as HTMLInputElement).focus();
  }

  private showEntry(entry: Entry, live: boolean): void {
    if (this.shown.has(entry.id)) return;
    this.shown.add(entry.id);
    this.log.querySelector(".cc-greeting")?.remove();
    const bubble = this.bubble(
      entry.from, entry.from === "visitor" ? "You" : entry.author_name, entry.author_avatar_url,
      entry.body_html, entry.created_at, entry.attachments, true,
    );
    bubble.dataset.entryId = String(entry.id);
    if (entry.from === "visitor") this.setState(bubble, entry.id <= this.agentReadId ? "Read" : "Sent");
    if (live && entry.from === "agent" && !this.isOpen) this.setUnread(this.unread + 1);
  }

  private bubble(
    from: string, author: string, avatarUrl: string, html: string, when: string,
    attachments: Entry["attachments"], sanitized = false,
  ): HTMLElement {
    const avatar = avatarUrl
      ? el("img", { class: "cc-avatar", src: this.base + avatarUrl, alt: "" })
      : el("span", { class: "cc-avatar", "aria-hidden": "true" }, initials(author));
    const body = el("div", { class: "cc-body" });
    if (sanitized) sanitizeInto(body, html);
    else body.textContent = html;
    const files = attachments.map((file) =>
      el("li", {}, el("a", { href: this.base + file.url, rel: "noopener noreferrer", target: "_blank", download: file.filename },
        `${file.filename} (${Math.max(1, Math.round(file.size / 1024))} KB)`)));
    const bubble = el(
      "article",
      { class: `cc-message cc-from-${from}` },
      from === "agent" ? avatar : el("span", { hidden: "" }),
      el("div", { class: "cc-content" },
        el("p", { class: "cc-meta" }, el("span", { class: "cc-author" }, author), " ",
          el("time", { datetime: when }, formatTime(when))),
        body,
        files.length ? el("ul", { class: "cc-files", "aria-label": "Attachments" }, ...files) : el("span", { hidden: "" }),
        el("p", { class: "cc-state" })),
    );
    if (!sanitized) body.innerHTML = body.innerHTML.replace(/\n/g, "<br>");
    this.log.appendChild(bubble);
    this.log.scrollTop = this.log.scrollHeight;
    return bubble;
  }

  private setState(bubble: HTMLElement, state: string, failed = false): void {
    const slot = bubble.querySelector(".cc-state");
    if (slot) slot.textContent = state;
    bubble.classList.toggle("cc-failed", failed);
  }

  private markAllRead(upToId: number): void {
    this.agentReadId = Math.max(this.agentReadId, upToId);
    this.log.querySelectorAll<HTMLElement>(".cc-from-visitor[data-entry-id]").forEach((bubble) => {
      if (Number(bubble.dataset.entryId) <= this.agentReadId) this.setState(bubble, "Read");
    });
  }

  private showTyping(name: string, on: boolean): void {
    window.clearTimeout(this.agentTypingTimer);
    this.typing.textContent = on ? `${name} is typing…` : "";
    // A lost "stopped typing" signal must not leave the indicator on forever.
    if (on) this.agentTypingTimer = window.setTimeout(() => this.showTyping("", false), 8000);
  }

  private showNotice(text: string, isError = false): void {
    this.notice.textContent = text;
    this.notice.hidden = !text;
    this.notice.classList.toggle("cc-error", isError);
  }

  private setUnread(count: number): void {
    this.unread = count;
    this.badge.textContent = count ? String(count) : "";
    this.badge.hidden = !count;
    this.launcher.setAttribute("aria-label", count ? `Open chat, ${count} unread` : this.isOpen ? "Close chat" : "Open chat");
    this.emit("unread", { count });
  }

  // --- helpers --------------------------------------------------------------------------------

  private emit(event: string, detail: Json): void {
    for (const handler of this.handlers[event] || []) {
      try {
        handler(detail);
      } catch (error) {
        console.warn("Concierge handler failed", error);
      }
    }
  }

  private load(name: string): string | null {
    try {
      return localStorage.getItem(this.store + name);
    } catch {
      return null; // storage blocked: the chat still works for this page view
    }
  }

  private save(name: string, value: string): void {
    try {
      if (value) localStorage.setItem(this.store + name, value);
      else localStorage.removeItem(this.store + name);
    } catch {
      /* storage blocked */
    }
  }
}

function textOf(html: string): string {
  const doc = new DOMParser().parseFromString(html, "text/html");
  return doc.body.textContent || "";
}

// --- bootstrap: find our script tag, replay queued calls, expose the API ---------------

(function start() {
  const w = window as any;
  const script = (document.currentScript as HTMLScriptElement | null) ||
    document.querySelector<HTMLScriptElement>("script[data-concierge-key]");
  const settings = w.ConciergeSettings || {};
  const key = script?.dataset.conciergeKey || settings.key;
  if (!key) {
    console.warn("Concierge: no data-concierge-key on the widget's script tag.");
    return;
  }
  const base = (script?.dataset.conciergeUrl || settings.url || new URL(script!.src, location.href).origin).replace(/\/$/, "");
  const queued: [string, any[]][] = (w.Concierge && w.Concierge.q) || [];
  const widget = new ConciergeWidget(base, key);
  const api = {
    open: () => widget.open(),
    close: () => widget.close(),
    toggle: () => widget.toggle(),
    identify: (identity: Json) => widget.identify(identity),
    setAttributes: (attributes: Json) => widget.setAttributes(attributes),
    on: (event: string, fn: Handler) => widget.on(event, fn),
    off: (event: string, fn: Handler) => widget.off(event, fn),
  };
  w.Concierge = api;
  for (const [method, args] of queued) (api as any)[method]?.(...args);
  const go = () => widget.boot();
  if (document.body) go();
  else document.addEventListener("DOMContentLoaded", go);
})();
