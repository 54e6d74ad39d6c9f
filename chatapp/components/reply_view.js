// A reply's rendered Markdown that grows by appends: finished blocks arrive rendered once, the
// unfinished tail as text to append (or whole, when it changes shape). Each update costs what it adds,
// not the length of the reply.
// Every change has a step number; the props carry the step they include, so an append that is already
// part of a (re)sent snapshot is skipped and nothing is shown twice.
// The tail is plain text, rendered HTML (text appended to it goes after it), or the code of an open
// fence (TailKind in markdown_stream.py: 1, 2, 3).
// The server sends each update as a socket message {s: step, t: tail, b: blocks' HTML, k: tailKind, a: ask}
// (static/page.js passes it to `receive`), where a tailKind means the tail is replaced and `ask` that the
// server waits to hear when the update is drawn; an update without a step is the one after the update
// before. Updates apply in step order: one that comes before a snapshot it follows (NiceGUI still loading a
// component, say) waits for it.
const SECTION_BLOCKS = 24;
// DOMPurify drops `target`: links get it back, with `rel` so that the page they open cannot reach this one
const linksToNewTab = (root) => {
  for (const link of root.querySelectorAll("a[href]")) Object.assign(link, { target: "_blank", rel: "noopener noreferrer" });
};

// a code block's Copy button (rendering.py: fence) copies its code as written, without the final line break
const copyCode = async (button) => {
  const code = button.closest(".code-block")?.querySelector("pre")?.textContent ?? "";
  await copyText(code.replace(/\n$/, ""));
  button.classList.add("copied");  // "Copied" (chat.css)
  setTimeout(() => button.classList.remove("copied"), 1500);
};
const copyText = async (text) => {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const field = Object.assign(document.createElement("textarea"), { value: text });  // plain http: the old way
  field.style.position = "fixed";
  field.style.opacity = "0";
  document.body.append(field);
  field.select();
  document.execCommand("copy");
  field.remove();
};

// A finished ```mermaid block is drawn as a diagram above its code, which a toggle shows instead; a diagram
// that does not parse keeps showing its code. Mermaid (shipped with NiceGUI) loads with the first diagram;
// "strict" escapes labels and drops click handlers, SVG labels leave no HTML in the drawing, and the drawing
// is sanitized again like the rest of the reply.
let mermaidLoaded, diagramTheme;
let diagrams = 0;
const themeNow = () => (document.body.classList.contains("body--dark") ? "dark" : "default");
const loadMermaid = async () => {
  const { mermaid } = await (mermaidLoaded ??= import("nicegui-mermaid"));
  if (diagramTheme !== themeNow()) {
    diagramTheme = themeNow();
    mermaid.initialize({ startOnLoad: false, securityLevel: "strict", suppressErrorRendering: true,
                         htmlLabels: false, flowchart: { htmlLabels: false }, theme: diagramTheme });
  }
  return mermaid;
};
const drawDiagrams = (root) => {
  for (const head of root.querySelectorAll('.code-head[data-lang="mermaid"]:not([data-drawing])')) {
    head.dataset.drawing = "1";
    drawDiagram(head.closest(".code-block"));
  }
};
const drawDiagram = async (block) => {
  const source = block.querySelector("pre")?.textContent ?? "";
  try {
    const mermaid = await loadMermaid();
    if (!(await mermaid.parse(source, { suppressErrors: true }))) throw new Error("not a diagram");
    const { svg } = await mermaid.render(`chatapp-diagram-${++diagrams}`, source);
    block.querySelectorAll(".diagram, .diagram-toggle").forEach((drawn) => drawn.remove());  // drawn before
    const diagram = Object.assign(document.createElement("div"), { className: "diagram" });
    diagram.setHTML(svg);
    const toggle = Object.assign(document.createElement("button"), { type: "button", className: "diagram-toggle" });
    const sourceShown = block.classList.contains("show-source");
    toggle.setAttribute("aria-label", sourceShown ? "Show the diagram" : "Show the diagram's source");
    block.querySelector(".code-head").prepend(toggle);
    block.querySelector(".code-head").after(diagram);
    block.classList.add("drawn");
  } catch {
    block.classList.add("not-drawn");  // its code stays, with a note (chat.css)
  }
};
// the other theme chosen: the diagrams drawn are drawn again in its colours
new MutationObserver(() => {
  if (mermaidLoaded && diagramTheme !== themeNow()) document.querySelectorAll(".code-block.drawn").forEach(drawDiagram);
}).observe(document.body, { attributes: true, attributeFilter: ["class"] });
const toggleSource = (button) => {
  const shown = button.closest(".code-block").classList.toggle("show-source");
  button.setAttribute("aria-label", shown ? "Show the diagram" : "Show the diagram's source");
};

export default {
  template: `<div class="reply-md"><div ref="blocks"></div><div ref="tail" class="reply-tail"></div></div>`,
  props: { html: String, tail: String, tailKind: Number, step: Number, since: Number },
  mounted() {
    const id = Number(this.$el.id.slice(1));  // NiceGUI's element id, "c" + id
    this.waiting = [];
    this.render();
    for (const update of window.chatappEarlyUpdates.get(id) ?? []) this.receive(update);
    window.chatappEarlyUpdates.delete(id);
    this.$el.addEventListener("click", (e) => {
      const copy = e.target.closest(".code-copy");
      if (copy) copyCode(copy);
      const toggle = e.target.closest(".diagram-toggle");
      if (toggle) toggleSource(toggle);
    });
  },
  watch: {
    step() {
      this.catchUp();
    },
  },
  methods: {
    catchUp() {
      // only a (re)sent snapshot newer than what is shown replaces it; appends move shownStep past the props
      if (this.shownStep === undefined || this.step > this.shownStep) {
        this.render();
        window.chatappFollow?.();  // a finished reply's end arrives this way
      }
    },
    render() {
      const html = this.html || "";
      if (this.shownStep >= this.since && html.length >= this.htmlLength) {
        // what is shown is an earlier state of this text (no restart since), and blocks only grow: add the end
        this.appendBlocks(html.slice(this.htmlLength));
      } else {
        this.$refs.blocks.setHTML(html);  // setHTML sanitizes with DOMPurify (NiceGUI's index.html)
        linksToNewTab(this.$refs.blocks);
        drawDiagrams(this.$refs.blocks);
        this.htmlLength = html.length;
      }
      this.showTail(this.tail || "", this.tailKind);
      this.shownStep = this.step;
      this.applyWaiting();
    },
    receive(update) {
      update.s ??= this.lastStep + 1;
      this.lastStep = update.s;
      this.waiting.push(update);
      this.applyWaiting();
    },
    applyWaiting() {
      // every step is either an update or part of a snapshot: a gap means the snapshot is still on its way
      while (this.waiting.length && this.waiting[0].s <= this.shownStep + 1) {
        const update = this.waiting.shift();
        if (update.s > this.shownStep) this.apply(update);
      }
    },
    apply({ s: step, t: tail, b: blocksHtml, k: tailKind, a: ask }) {
      this.shownStep = step;
      if (blocksHtml) this.appendBlocks(blocksHtml);
      if (tailKind) this.showTail(tail, tailKind);
      else if (tail) this.appendTail(tail);
      window.chatappFollow?.();
      if (ask) this.confirmWhenDrawn();
    },
    confirmWhenDrawn() {
      // the server holds new text until an update it asked about is drawn (flow control): a frame, not
      // the websocket, sets the pace, and a hidden tab, which draws no frames, is sent little meanwhile
      if (this.confirming) return;
      this.confirming = true;
      requestAnimationFrame(() => {
        this.confirming = false;
        this.$emit("shown", this.shownStep);
      });
    },
    showTail(tail, kind) {
      const element = this.$refs.tail;
      element.classList.toggle("code", kind === 3);
      element.classList.toggle("html", kind === 2);
      if (kind === 2) {
        element.setHTML(tail);  // sanitized, like the blocks
        linksToNewTab(element);
      }
      else element.textContent = tail;
    },
    appendTail(text) {
      const element = this.$refs.tail;
      if (!element.classList.contains("html")) return element.append(text);
      // rendered text breaks lines only where its HTML says: a new line in the text is a <br>
      text.split("\n").forEach((line, i) => {
        if (i) element.append(document.createElement("br"));
        if (line) element.append(line);
      });
    },
    appendBlocks(html) {
      if (!html) return;
      this.htmlLength += html.length;
      // in sections, so the browser can skip laying out and painting the ones scrolled away: without
      // them an update costs the page more the longer the reply already is
      const fragment = document.createElement("div");
      fragment.setHTML(html);
      linksToNewTab(fragment);
      let section = this.$refs.blocks.lastElementChild;
      if (!section?.classList.contains("reply-section") || section.childElementCount >= SECTION_BLOCKS) {
        section = document.createElement("div");
        section.className = "reply-section";
        this.$refs.blocks.append(section);
      }
      section.append(...fragment.childNodes);
      drawDiagrams(section);
    },
  },
};
