// A reply's rendered Markdown that grows by appends: finished blocks arrive rendered once, the
// unfinished tail arrives as plain text. Each update costs what it adds, not the length of the reply.
export default {
  template: `<div class="reply-md"><div ref="blocks"></div><div ref="tail" class="reply-tail"></div></div>`,
  props: { html: String, tail: String, version: Number },
  mounted() {
    this.render();
  },
  watch: {
    version() {
      this.render();  // the server re-sent the whole element: start over from its props
    },
  },
  methods: {
    render() {
      this.$refs.blocks.setHTML(this.html || "");  // setHTML sanitizes with DOMPurify (NiceGUI's index.html)
      this.$refs.tail.textContent = this.tail || "";
    },
    append(blocksHtml, tail, resetTail) {
      const follow = window.chatappNearBottom ? window.chatappNearBottom() : false;
      if (blocksHtml) {
        const fragment = document.createElement("div");
        fragment.setHTML(blocksHtml);
        this.$refs.blocks.append(...fragment.childNodes);
      }
      if (resetTail) this.$refs.tail.textContent = tail;
      else if (tail) this.$refs.tail.append(tail);
      if (follow) window.chatappScrollToBottom();
    },
  },
};
