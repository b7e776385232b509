// The page's config: the knobs it wants, kept equal to what the server last accepted, mirrored in the
// URL hash (history.replaceState: no history spam, no hashchange loop).
import { Emitter } from './emitter.js';
import { defaults } from './knobs.js';
import { encodeHash } from './hash.js';

export class ConfigStore extends Emitter {
  constructor(table) {
    super();
    this.table = table;
    this.defaults = defaults(table);
    this.config = { ...this.defaults };
    this.extras = { compare: [] };
  }

  /** The whole config (missing knobs take defaults); emits 'change'. */
  replace(config, source = 'server') {
    this.config = { ...this.defaults, ...config };
    this.writeHash();
    this.emit('change', this.config, source);
  }

  patch(partial, source = 'user') {
    this.replace({ ...this.config, ...partial }, source);
  }

  setExtras(extras) {
    this.extras = { ...this.extras, ...extras };
    this.writeHash();
  }

  /** `config` with the named fields back at their defaults (unknown names dropped); a refused upload
   *  handle takes the data preset back too. */
  withoutFields(config, names) {
    const out = { ...config };
    for (const name of names) {
      if (name in this.defaults) out[name] = this.defaults[name];
      else delete out[name];
      if (name === 'data_file') out.data = this.defaults.data;
    }
    return out;
  }

  /** Only the knobs that differ from the defaults (what a link needs). */
  hash() {
    return encodeHash(this.config, this.table, this.extras);
  }

  link() {
    const { origin, pathname, search } = window.location;
    return `${origin}${pathname}${search}${this.hash()}`;
  }

  writeHash() {
    const { pathname, search } = window.location;
    const target = `${pathname}${search}${this.hash()}`;
    if (target !== `${pathname}${search}${window.location.hash}`) window.history.replaceState(null, '', target);
  }
}
