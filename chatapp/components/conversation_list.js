// The sidebar's conversations, drawn in the browser from one list of {id, title, at, shared, mine[, found]} (at:
// last change, ms since the epoch; mine: the reader owns it; found: a search result's snippet, [before, match,
// after], shown as text with the match marked). The server sends the list again when it changes and never builds an element per
// row: a burst of new conversations would make the server build rows in every tab one person has open.
// Rows are grouped by age in the browser's own time zone, and one menu serves every row.
// A row is plain elements, its menu button too: when one person's tabs all hear of a burst of new
// conversations, a Quasar button per row makes each re-draw restyle and re-render its nested elements.
// The handlers, the same for every row, read its id.
const DAY_MS = 86_400_000;

export function ageGroup(at, now = new Date()) {
  const day = (date) => new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const days = Math.round((day(now) - day(new Date(at))) / DAY_MS);  // round: a DST day is 23 or 25 hours
  if (days <= 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days <= 7) return "Previous 7 days";
  return "Older";
}
window.chatappAgeGroup = ageGroup;  // for the browser tests

export default {
  template: `
    <div data-testid="conversation-list">
      <template v-for="entry in entries" :key="entry.key">
        <div v-if="entry.group" class="text-xs font-medium text-grey-6 px-2 pt-3 pb-1">{{ entry.group }}</div>
        <div v-else class="conversation-item row w-full items-center no-wrap rounded-lg cursor-pointer"
             :class="{ active: entry.id === active }" data-testid="conversation-item" :data-id="entry.id"
             tabindex="0" @click="openRow" @keydown.enter.self="openRow">
          <i v-if="entry.shared" class="q-icon notranslate material-icons shared-mark" data-testid="shared-mark"
             :title="sharedNote(entry)" :aria-label="sharedNote(entry)">group</i>
          <div v-if="entry.found" class="col px-2 py-1 search-result" data-testid="search-result">
            <div class="conversation-title truncate text-sm" :title="entry.title">{{ entry.title }}</div>
            <div class="search-snippet text-xs" data-testid="search-snippet"><span class="search-date">{{
              dateOf(entry.at) }}</span><template v-if="entry.found.length"> · {{ entry.found[0] }}<mark>{{
              entry.found[1] }}</mark>{{ entry.found[2] }}</template></div>
          </div>
          <div v-else class="conversation-title col truncate text-sm px-2 py-2" :title="entry.title">{{ entry.title }}</div>
          <button v-if="entry.mine" type="button" class="item-menu" data-testid="conversation-menu"
                  aria-label="More" @click.stop="openMenu"><i class="q-icon notranslate material-icons"
                  aria-hidden="true">more_horiz</i></button>
        </div>
      </template>
      <q-menu ref="menu" no-parent-event :target="menuTarget || false">
        <q-list dense style="min-width: 120px">
          <q-item clickable v-close-popup @click="$emit('rename', menuFor)"><q-item-section>Rename</q-item-section></q-item>
          <q-item clickable v-close-popup class="text-negative" @click="$emit('delete', menuFor)">
            <q-item-section>Delete</q-item-section>
          </q-item>
        </q-list>
      </q-menu>
    </div>`,
  props: { rows: Array, active: String },
  data() {
    return { today: new Date().toDateString(), menuFor: "", menuTarget: null };
  },
  computed: {
    entries() {
      void this.today;  // regroup when the date changes
      const now = new Date();
      const entries = [];
      let group = null;
      for (const row of this.rows || []) {
        const label = ageGroup(row.at, now);
        if (label !== group) entries.push({ key: "group:" + (group = label), group: label });
        entries.push({ key: row.id, ...row });
      }
      return entries;
    },
  },
  mounted() {
    this.clock = setInterval(() => (this.today = new Date().toDateString()), 60_000);
  },
  unmounted() {
    clearInterval(this.clock);
  },
  methods: {
    dateOf(at) {
      return new Date(at).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
    },
    sharedNote(entry) {
      return entry.mine ? "Shared with others" : "Shared with you";
    },
    openRow(event) {
      this.$emit("open", event.currentTarget.dataset.id);
    },
    async openMenu(event) {
      this.menuFor = event.currentTarget.closest("[data-id]").dataset.id;
      this.menuTarget = event.currentTarget;
      await this.$nextTick();  // the menu anchors to its new target before it opens
      this.$refs.menu.show();
    },
  },
};
