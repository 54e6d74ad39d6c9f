// The sidebar's conversations, drawn in the browser from one list of rows {id, title, at, shared, mine[, pinned,
// folder, archived, found]} and the person's folders [{id, name, count, loaded}] (at: last change, ms since the
// epoch; loaded: the folder's rows were sent, as they are only for the folders the page says are open;
// mine: the reader owns it; pinned, folder, archived: where the reader keeps it; found: a search result's snippet,
// [before, match, after], shown as text with the match marked). The server sends the list again when it changes and
// never builds an element per row: a burst of new conversations would make the server build rows in every tab one
// person has open.
// Pinned rows come first, then each folder (collapsible; which are open is the browser's to remember), then the
// rest grouped by age in the browser's own time zone. One menu serves every row, one every folder. Titles and
// folder names are people's text: shown as text only, never as HTML.
// A row is plain elements, its menu button too: when one person's tabs all hear of a burst of new
// conversations, a Quasar button per row makes each re-draw restyle and re-render its nested elements.
// The handlers, the same for every row, read its id.
const DAY_MS = 86_400_000;
const OPEN_FOLDERS = "chatapp.openFolders";  // localStorage: the ids of the folders the person opened
const DRAGGED = "application/x-chatapp-conversation";

export function ageGroup(at, now = new Date()) {
  const day = (date) => new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const days = Math.round((day(now) - day(new Date(at))) / DAY_MS);  // round: a DST day is 23 or 25 hours
  if (days <= 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days <= 7) return "Previous 7 days";
  return "Older";
}
window.chatappAgeGroup = ageGroup;  // for the browser tests

function openFolders() {
  try {
    return new Set(JSON.parse(localStorage.getItem(OPEN_FOLDERS) || "[]"));
  } catch {
    return new Set();
  }
}

export default {
  template: `
    <div data-testid="conversation-list" @dragend="dragEnd">
      <template v-for="entry in entries" :key="entry.key">
        <div v-if="entry.kind === 'heading'" class="list-heading text-xs font-medium text-grey-6 px-2 pt-3 pb-1"
             :class="{ 'drop-here': entry.drop !== undefined && entry.drop === dropTarget }"
             @dragover="dragOver($event, entry.drop)" @drop="drop($event, entry.drop)">{{ entry.text }}</div>
        <div v-else-if="entry.kind === 'folder'" class="folder-item row w-full items-center no-wrap rounded-lg cursor-pointer"
             :class="{ 'drop-here': entry.id === dropTarget, 'menu-open': menuShown === 'folder' && entry.id === folderFor }"
             data-testid="folder" :data-folder="entry.id"
             tabindex="0" role="button" :aria-expanded="String(entry.open)" @click="toggle(entry.id)"
             @keydown.enter.self.prevent="toggle(entry.id)" @keydown.space.self.prevent="toggle(entry.id)"
             @keydown.shift.f10.self.prevent="openFolderMenu" @keydown.context-menu.self.prevent="openFolderMenu"
             @contextmenu.prevent="openFolderMenu"
             @dragover="dragOver($event, entry.id)" @drop="drop($event, entry.id)">
          <i class="q-icon notranslate material-icons folder-chevron" aria-hidden="true">{{
            entry.open ? "expand_more" : "chevron_right" }}</i>
          <i class="q-icon notranslate material-icons folder-icon" aria-hidden="true">{{
            entry.open ? "folder_open" : "folder" }}</i>
          <div class="folder-name col truncate text-sm px-2 py-2" :title="entry.name">{{ entry.name }}</div>
          <span class="folder-count" data-testid="folder-count"
                :aria-label="entry.count === 1 ? '1 conversation' : entry.count + ' conversations'">{{ entry.count }}</span>
          <button type="button" class="item-menu" data-testid="folder-menu" aria-label="Folder actions"
                  @click.stop="openFolderMenu"><i
                  class="q-icon notranslate material-icons" aria-hidden="true">more_horiz</i></button>
        </div>
        <div v-else-if="entry.kind === 'empty'" class="folder-empty text-xs text-grey-6" data-testid="folder-empty"
             :class="{ 'drop-here': entry.drop === dropTarget }"
             @dragover="dragOver($event, entry.drop)" @drop="drop($event, entry.drop)">{{ entry.text }}</div>
        <div v-else class="conversation-item row w-full items-center no-wrap rounded-lg cursor-pointer"
             :class="{ active: entry.id === active, 'in-folder': entry.inFolder,
                      'menu-open': menuShown === 'row' && entry.id === menuFor }" data-testid="conversation-item"
             :data-id="entry.id" tabindex="0" :draggable="entry.drag ? 'true' : 'false'"
             @click="openRow" @keydown.enter.self="openRow"
             @keydown.shift.f10.self.prevent="openMenu" @keydown.context-menu.self.prevent="openMenu"
             @contextmenu.prevent="openMenu" @dragstart="dragStart($event, entry)"
             @dragover="dragOver($event, entry.drop)" @drop="drop($event, entry.drop)">
          <i v-if="entry.pinned && !entry.found" class="q-icon notranslate material-icons place-mark"
             data-testid="pinned-mark" title="Pinned" aria-label="Pinned">push_pin</i>
          <i v-if="entry.archived && entry.found" class="q-icon notranslate material-icons place-mark"
             data-testid="archived-mark" title="Archived" aria-label="Archived">inventory_2</i>
          <i v-if="entry.shared" class="q-icon notranslate material-icons shared-mark" data-testid="shared-mark"
             :title="sharedNote(entry)" :aria-label="sharedNote(entry)">group</i>
          <div v-if="entry.found" class="col px-2 py-1 search-result" data-testid="search-result">
            <div class="conversation-title truncate text-sm" :title="entry.title">{{ entry.title }}</div>
            <div class="search-snippet text-xs" data-testid="search-snippet"><span class="search-date">{{
              dateOf(entry.at) }}</span><template v-if="entry.found.length"> · {{ entry.found[0] }}<mark>{{
              entry.found[1] }}</mark>{{ entry.found[2] }}</template></div>
          </div>
          <div v-else class="conversation-title col truncate text-sm px-2 py-2" :title="entry.title">{{ entry.title }}</div>
          <button v-if="entry.archived && !entry.found" type="button" class="item-menu restore" data-testid="restore"
                  aria-label="Restore" title="Restore" @click.stop="$emit('archive', [entry.id, false])"><i
                  class="q-icon notranslate material-icons" aria-hidden="true">unarchive</i></button>
          <button type="button" class="item-menu" data-testid="conversation-menu" aria-label="More"
                  @click.stop="openMenu"><i
                  class="q-icon notranslate material-icons" aria-hidden="true">more_horiz</i></button>
        </div>
      </template>
      <q-menu ref="menu" no-parent-event :target="menuTarget || false" data-testid="row-menu" @show="shown('row')"
              @hide="menuShown = ''">
        <q-list dense style="min-width: 150px" v-if="menuRow" @keydown.down.prevent="step($event, 1)"
                @keydown.up.prevent="step($event, -1)">
          <q-item v-if="!menuRow.archived" clickable v-close-popup data-testid="menu-pin"
                  @click="$emit('pin', [menuRow.id, !menuRow.pinned])">
            <q-item-section>{{ menuRow.pinned ? "Unpin" : "Pin" }}</q-item-section>
          </q-item>
          <q-item v-if="!menuRow.archived" clickable data-testid="menu-move">
            <q-item-section>Move to…</q-item-section>
            <q-item-section side><q-icon name="keyboard_arrow_right" /></q-item-section>
            <q-menu anchor="top end" self="top start" data-testid="move-menu" @show="focusFirst"><!-- its items close both menus -->
              <q-list dense style="min-width: 160px" @keydown.down.prevent.stop="step($event, 1)"
                      @keydown.up.prevent.stop="step($event, -1)">
                <q-item v-for="folder in folders" :key="folder.id" clickable v-close-popup="2"
                        :disable="!menuRow.pinned && menuRow.folder === folder.id" data-testid="move-to-folder"
                        @click="move(folder.id)">
                  <q-item-section avatar class="menu-icon"><q-icon name="folder" /></q-item-section>
                  <q-item-section class="menu-folder-name">{{ folder.name }}</q-item-section>
                </q-item>
                <q-item clickable v-close-popup="2" :disable="!menuRow.pinned && !menuRow.folder" data-testid="move-to-none"
                        @click="move('')">
                  <q-item-section avatar class="menu-icon"><q-icon name="folder_off" /></q-item-section>
                  <q-item-section>No folder</q-item-section>
                </q-item>
                <q-separator />
                <q-item clickable v-close-popup="2" data-testid="move-to-new" @click="$emit('move_new', menuRow.id)">
                  <q-item-section avatar class="menu-icon"><q-icon name="create_new_folder" /></q-item-section>
                  <q-item-section>New folder…</q-item-section>
                </q-item>
              </q-list>
            </q-menu>
          </q-item>
          <q-item clickable v-close-popup :data-testid="menuRow.archived ? 'menu-restore' : 'menu-archive'"
                  @click="$emit('archive', [menuRow.id, !menuRow.archived])">
            <q-item-section>{{ menuRow.archived ? "Restore" : "Archive" }}</q-item-section>
          </q-item>
          <template v-if="menuRow.mine">
            <q-separator />
            <q-item clickable v-close-popup @click="$emit('rename', menuRow.id)"><q-item-section>Rename</q-item-section></q-item>
            <q-item clickable v-close-popup class="text-negative" @click="$emit('delete', menuRow.id)">
              <q-item-section>Delete</q-item-section>
            </q-item>
          </template>
        </q-list>
      </q-menu>
      <q-menu ref="folderMenu" no-parent-event :target="folderTarget || false" data-testid="folder-actions"
              @show="shown('folder')" @hide="menuShown = ''">
        <q-list dense style="min-width: 120px" @keydown.down.prevent="step($event, 1)"
                @keydown.up.prevent="step($event, -1)">
          <q-item clickable v-close-popup @click="$emit('rename_folder', folderFor)"><q-item-section>Rename</q-item-section></q-item>
          <q-item clickable v-close-popup class="text-negative" @click="$emit('delete_folder', folderFor)">
            <q-item-section>Delete</q-item-section>
          </q-item>
        </q-list>
      </q-menu>
    </div>`,
  props: { rows: Array, folders: Array, active: String },
  data() {
    return {
      today: new Date().toDateString(), menuFor: "", menuTarget: null, folderFor: "", folderTarget: null,
      menuShown: "", opened: openFolders(), dragged: null, dropTarget: null,
    };
  },
  computed: {
    entries() {
      void this.today;  // regroup when the date changes
      const rows = this.rows || [];
      const folders = this.folders || [];
      const filed = new Map(folders.map((folder) => [folder.id, []]));
      const pinned = [], rest = [];
      for (const row of rows) {
        if (row.pinned && !row.found) pinned.push(row);
        else if (row.folder && !row.found && !row.archived && filed.has(row.folder)) filed.get(row.folder).push(row);
        else rest.push(row);
      }
      const listed = !rows.some((row) => row.found || row.archived);  // the list, not search results or archived
      const drag = listed && folders.length > 0;  // rows go into folders and out of them
      const drop = drag ? "" : undefined;  // dropped on the list: out of its folder
      const entries = [];
      if (pinned.length) entries.push({ kind: "heading", key: "pinned", text: "Pinned" });
      for (const row of pinned) entries.push({ kind: "row", key: row.id, ...row, drag });
      for (const folder of listed ? folders : []) {  // (search results and archived rows list none)
        const open = this.opened.has(folder.id);
        entries.push({ kind: "folder", key: "folder:" + folder.id, ...folder, open });
        if (!open) continue;
        const held = filed.get(folder.id);
        for (const row of held) entries.push({ kind: "row", key: row.id, ...row, inFolder: true, drag, drop: folder.id });
        if (!folder.count) entries.push({ kind: "empty", key: "empty:" + folder.id, drop: folder.id, text: "Empty: drag conversations here" });
        else if (!folder.loaded) entries.push({ kind: "empty", key: "loading:" + folder.id, drop: folder.id, text: "Loading…" });
        else if (folder.count > held.length) {  // the server sends a folder's newest only
          entries.push({ kind: "empty", key: "more:" + folder.id, drop: folder.id,
                         text: `${folder.count - held.length} older: search finds them` });
        }
      }
      const now = new Date();
      let group = null;
      for (const row of rest) {
        const label = ageGroup(row.at, now);
        if (label !== group) entries.push({ kind: "heading", key: "group:" + (group = label), text: label, drop });
        entries.push({ kind: "row", key: row.id, ...row, drag, drop });
      }
      if (drop !== undefined && !rest.length) entries.push({ kind: "heading", key: "unfiled", text: "No folder", drop });
      return entries;
    },
    menuRow() {
      return (this.rows || []).find((row) => row.id === this.menuFor) || null;
    },
  },
  mounted() {
    this.clock = setInterval(() => (this.today = new Date().toDateString()), 60_000);
    this.$emit("folders_open", [...this.opened]);  // the server reads the rows of these only
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
      const row = event.currentTarget.closest("[data-id]");
      this.menuFor = row.dataset.id;
      this.menuTarget = row.querySelector("[data-testid=conversation-menu]") || row;
      await this.$nextTick();  // the menu anchors to its new target before it opens
      this.$refs.menu.show();
    },
    async openFolderMenu(event) {
      const folder = event.currentTarget.closest("[data-folder]");
      this.folderFor = folder.dataset.folder;
      this.folderTarget = folder.querySelector("[data-testid=folder-menu]") || folder;
      await this.$nextTick();
      this.$refs.folderMenu.show();
    },
    shown(menu) {
      this.menuShown = menu;
      this.focusFirst();
    },
    focusFirst() {
      // a menu opened from the keyboard goes on from its first item (Quasar focuses the menu itself, a moment
      // later); the newest menu is the last one shown
      const menus = document.querySelectorAll(".q-menu");
      menus[menus.length - 1]?.querySelector(".q-item[tabindex='0']")?.focus();
    },
    step(event, by) {
      // arrow keys go from item to item of a menu, round its ends
      const items = [...event.currentTarget.querySelectorAll(":scope > .q-item[tabindex='0']")];
      const at = items.indexOf(document.activeElement);
      items[(at + by + items.length) % items.length]?.focus();
    },
    toggle(id) {
      const opened = new Set(this.opened);
      opened.has(id) ? opened.delete(id) : opened.add(id);
      this.opened = opened;
      this.$emit("folders_open", [...opened]);
      try {
        localStorage.setItem(OPEN_FOLDERS, JSON.stringify([...opened]));
      } catch {}  // a private window may refuse: folders then open for this page only
    },
    move(folder) {
      this.$emit("move", [this.menuFor, folder]);
      this.reveal(folder);
    },
    reveal(folder) {
      if (folder && !this.opened.has(folder)) this.toggle(folder);  // show where it went
    },
    dragStart(event, entry) {
      this.dragged = entry;
      event.dataTransfer.setData(DRAGGED, entry.id);
      event.dataTransfer.effectAllowed = "move";
    },
    dragOver(event, target) {
      if (target === undefined || !this.dragged) return;
      event.preventDefault();  // a drop target
      event.dataTransfer.dropEffect = "move";
      this.dropTarget = target;
    },
    drop(event, target) {
      const dragged = this.dragged;
      this.dragEnd();
      if (target === undefined || !dragged) return;
      event.preventDefault();
      event.stopPropagation();
      if (!dragged.pinned && (dragged.folder || "") === target) return;  // where it is already
      this.$emit("move", [dragged.id, target]);
      this.reveal(target);
    },
    dragEnd() {
      this.dragged = null;
      this.dropTarget = null;
    },
  },
};
