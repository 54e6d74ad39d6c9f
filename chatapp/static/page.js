// Helpers every chat page loads (chatapp/pages/layout.py): following a growing reply, logging out,
// and text fields that never hand the socket what it would drop.
// Follow a growing reply unless the person scrolled up to read. Only a move up stops following (a reply
// growing below never does, however large the update); reaching the end again resumes it. The scroll
// to the bottom happens at most once a frame.
(() => {
  let following = true, scheduled = false, lastY = window.scrollY;
  const nearEnd = () => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
  window.addEventListener("scroll", () => {
    if (window.scrollY < lastY) following = nearEnd();
    else if (nearEnd()) following = true;
    lastY = window.scrollY;
  }, { passive: true });
  window.chatappScrollToBottom = () => {
    following = true;
    window.scrollTo({ top: document.documentElement.scrollHeight });
  };
  // A streaming reply's updates come as socket messages of their own ("ra", components/reply_view.py). NiceGUI
  // numbers every message it sends; one already handled (replayed after a reconnect) is skipped, as NiceGUI
  // skips its own. The listener goes on the socket the moment NiceGUI creates it, before any message can come;
  // an update for a reply not mounted yet waits for it (reply_view.js).
  let socket;
  const early = window.chatappEarlyUpdates = new Map();  // element id -> its updates, until it is mounted
  const receiveUpdate = (update) => {
    if (update._id < window.nextMessageId) return;
    window.nextMessageId = update._id + 1;
    const view = getElement(update.i);
    if (view) view.receive(update);
    else if (early.has(update.i)) early.get(update.i).push(update);
    else early.set(update.i, [update]);
  };
  Object.defineProperty(window, "socket", {
    configurable: true,
    get: () => socket,
    set: (created) => { socket = created; created.on("ra", receiveUpdate); },
  });
  // a lone surrogate (half of an emoji, from a paste) would make the socket drop the whole update
  document.addEventListener("input", (e) => {
    const field = e.target;
    if (typeof field.value === "string" && !field.value.isWellFormed()) field.value = field.value.toWellFormed();
  }, true);
  // Enter sends, Shift+Enter makes a new line
  window.chatappSendOnEnter = (e, emit) => {
    if (e.key !== "Enter" || e.shiftKey) return;
    // an IME confirming a word with Enter: isComposing, or (Safari, as the composition ends) keyCode 229
    if (e.isComposing || e.keyCode === 229) return;
    e.preventDefault(); emit();
  };
  // Files chosen with the Attach button, dropped on the composer or pasted into its field are posted, one request
  // each, to the page's tray on the server (pages/attachments.py), which reads and checks them; text pasted stays
  // text. One over the size limit is not sent: the server is told, and says so.
  const trays = {};
  const upload = (key, files) => {
    for (const file of files) {
      if (file.size > trays[key].maxFile) {
        emitEvent("attach_refused", { name: file.name, size: file.size });
        continue;
      }
      const say = (why) => Quasar.Notify.create({ type: "warning", position: "top", multiLine: true,
                                                  message: `${file.name} was not attached: ${why}` });
      // the server says on the page why it refused a file (413, 422); a request that never reached the tray (a
      // login that ended, a page the server no longer knows) or the server is said here
      fetch("/files/upload", { method: "POST", redirect: "manual", body: file, headers: {
        "Content-Type": "application/octet-stream", "X-Chatapp-Tray": key,
        "X-File-Name": encodeURIComponent(file.name) } })
        .then((response) => response.ok || [413, 422].includes(response.status)
          || say("reload the page and try again (your login may have ended)."))
        .catch(() => say("the server could not be reached. Try again in a moment."));
    }
  };
  window.chatappPickFiles = (key) => {
    const chooser = Object.assign(document.createElement("input"), { type: "file", multiple: true });
    chooser.addEventListener("change", () => upload(key, chooser.files));
    chooser.click();
  };
  window.chatappAcceptFiles = (key, composerId, fieldId, maxFile) => {
    trays[key] = { maxFile };
    const composer = document.getElementById(`c${composerId}`), field = document.getElementById(`c${fieldId}`);
    const carriesFiles = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
    composer?.addEventListener("dragover", (e) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      composer.classList.add("drop-target");
    });
    composer?.addEventListener("dragleave", (e) => {
      if (!composer.contains(e.relatedTarget)) composer.classList.remove("drop-target");
    });
    composer?.addEventListener("drop", (e) => {
      composer.classList.remove("drop-target");
      if (!e.dataTransfer?.files.length) return;
      e.preventDefault();
      upload(key, e.dataTransfer.files);
    });
    field?.addEventListener("paste", (e) => {
      const files = e.clipboardData?.files;
      if (!files?.length) return;
      if (!e.clipboardData.getData("text/plain")) e.preventDefault();  // a screenshot: no file name as text
      upload(key, files);
    });
  };
  window.chatappLogout = () => {
    window.chatappLoggingOut = true;
    const form = Object.assign(document.createElement("form"), { method: "post", action: "/logout" });
    document.body.append(form);
    form.submit();
  };
  // a search result: its message in view, lit up for a moment (no following to the end meanwhile)
  window.chatappReveal = (id) => {
    const row = document.querySelector(`[data-message-id="${id}"]`);
    if (!row) return window.chatappScrollToBottom();
    following = false;
    row.scrollIntoView({ block: "center" });
    row.classList.add("search-hit");
    setTimeout(() => row.classList.remove("search-hit"), 3000);
  };
  // Ctrl+K (Cmd+K on a Mac) goes to the search field, opening the history where it is closed (a phone)
  document.addEventListener("keydown", (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey || e.key.toLowerCase() !== "k") return;
    const field = document.querySelector("[data-testid=search] input, input[data-testid=search]");
    if (!field) return;
    e.preventDefault();
    const hidden = !field.offsetParent || field.getBoundingClientRect().right <= 0;  // in a drawer slid away
    if (hidden) document.querySelector('[aria-label="Toggle history"]')?.click();
    setTimeout(() => { field.focus(); field.select(); }, hidden ? 300 : 0);
  });
  // A long conversation shows a stretch of its messages: an edge of it coming near the screen asks the server
  // for the next page (message_list.py), and what is added or dropped above the screen does not move what the
  // person reads
  let edges;
  window.chatappWatchEdges = () => {
    edges ??= new IntersectionObserver((entries) => {
      for (const entry of entries) if (entry.isIntersecting && !entry.target.closest(".hidden")) reach(entry.target);
    }, { rootMargin: "800px 0px" });
    for (const edge of document.querySelectorAll("[data-edge]")) {
      edges.unobserve(edge);
      edges.observe(edge);  // reports its state now: an edge still in sight asks for one more page
    }
  };
  const reach = (edge) => {
    holdPlace();
    edge.dispatchEvent(new Event("reach"));
  };
  const holdPlace = () => {
    const anchor = [...document.querySelectorAll("[data-message-id]")].find((r) => r.getBoundingClientRect().bottom > 0);
    if (!anchor) return;
    // where the row is in the document: only rows added or dropped above it move that, not the person scrolling
    const at = () => anchor.getBoundingClientRect().top + window.scrollY;
    let was = at();
    const isRow = (node) => node.nodeType === 1 && (node.matches("[data-message-id]") || node.querySelector("[data-message-id]"));
    const observer = new MutationObserver((records) => {
      const moved = anchor.isConnected ? at() - was : 0;
      if (moved) window.scrollBy(0, moved);
      was += moved;
      if (records.some((r) => [...r.addedNodes, ...r.removedNodes].some(isRow))) observer.disconnect();
    });
    observer.observe(document.body, { childList: true, subtree: true });
    setTimeout(() => observer.disconnect(), 3000);
  };
  window.chatappFollow = () => {
    if (!following || scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      if (following) window.scrollTo({ top: document.documentElement.scrollHeight });
    });
  };
})();
