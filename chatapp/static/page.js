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
  window.chatappFollow = () => {
    if (!following || scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      if (following) window.scrollTo({ top: document.documentElement.scrollHeight });
    });
  };
})();
