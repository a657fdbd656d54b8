// Writes examples/alpaca/instructions.jsonl and examples/chat/conversations.jsonl: small instruction and chat
// datasets of our own making (arithmetic, sorting, word games, unit conversion), every answer computed here so
// it is right. Deterministic (seeded), so re-running reproduces the committed files byte for byte.
// Usage: node scripts/make-example-datasets.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rng } from '../examples/seeded-random.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const WORDS = [
  'garden',
  'window',
  'river',
  'pencil',
  'lantern',
  'harbor',
  'meadow',
  'planet',
  'violin',
  'basket',
  'candle',
  'forest',
  'bridge',
  'copper',
  'orange',
  'island',
  'ladder',
  'mirror',
  'rocket',
  'saddle',
  'tunnel',
  'walnut',
  'yellow',
  'zipper',
  'anchor',
  'button',
  'cactus',
  'dragon',
  'engine',
  'falcon',
  'glacier',
  'hammer',
  'jungle',
  'kettle',
  'lemon',
  'marble',
  'needle',
  'pepper',
  'quartz',
  'ribbon',
  'silver',
  'tomato',
  'velvet',
  'wizard',
];
const PLURALS = {
  child: 'children',
  mouse: 'mice',
  city: 'cities',
  box: 'boxes',
  leaf: 'leaves',
  tooth: 'teeth',
  bus: 'buses',
  knife: 'knives',
  story: 'stories',
  goose: 'geese',
  hero: 'heroes',
  wolf: 'wolves',
  baby: 'babies',
  dish: 'dishes',
  foot: 'feet',
  woman: 'women',
  berry: 'berries',
  glass: 'glasses',
  shelf: 'shelves',
  person: 'people',
};

function makeTask(r) {
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  switch (int(0, 7)) {
    case 0: {
      const a = int(2, 499);
      const b = int(2, 499);
      return { instruction: 'Add the two numbers.', input: `${a} and ${b}`, output: String(a + b) };
    }
    case 1: {
      const a = int(2, 40);
      const b = int(2, 40);
      return { instruction: 'Multiply the two numbers.', input: `${a} × ${b}`, output: String(a * b) };
    }
    case 2: {
      const xs = Array.from({ length: int(3, 7) }, () => int(0, 99));
      const sorted = [...xs].sort((x, y) => x - y);
      return {
        instruction: 'Sort the numbers from smallest to largest.',
        input: xs.join(', '),
        output: sorted.join(', '),
      };
    }
    case 3: {
      const w = pick(WORDS);
      return { instruction: 'Spell the word backwards.', input: w, output: [...w].reverse().join('') };
    }
    case 4: {
      const c = int(-20, 45);
      const f = (c * 9) / 5 + 32;
      return {
        instruction: 'Convert the temperature from degrees Celsius to degrees Fahrenheit.',
        input: `${c} °C`,
        output: `${Number.isInteger(f) ? f : f.toFixed(1)} °F`,
      };
    }
    case 5: {
      const w = pick(WORDS);
      const n = [...w].filter((ch) => 'aeiou'.includes(ch)).length;
      return { instruction: 'Count the vowels (a, e, i, o, u) in the word.', input: w, output: String(n) };
    }
    case 6: {
      const start = int(1, 30);
      const step = int(2, 12);
      const seq = [0, 1, 2, 3].map((i) => start + i * step);
      return {
        instruction: 'Give the next number in the sequence.',
        input: seq.join(', '),
        output: String(start + 4 * step),
      };
    }
    default: {
      const [singular, plural] = pick(Object.entries(PLURALS));
      const n = int(2, 9);
      return {
        instruction: 'Write the phrase with the noun in the plural.',
        input: `${n} ${singular}`,
        output: `${n} ${plural}`,
      };
    }
  }
}

function uniqueTasks(seed, count) {
  const r = rng(seed);
  const seen = new Set();
  const out = [];
  while (out.length < count) {
    const t = makeTask(r);
    const key = `${t.instruction}\u0000${t.input}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(t);
  }
  return out;
}

function write(relative, rows) {
  const path = join(ROOT, relative);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
  console.log(`${relative}: ${rows.length} rows`);
}

write('examples/alpaca/instructions.jsonl', uniqueTasks(42, 320));

const SYSTEM = 'You are a careful assistant. Answer with the result only.';
const chatRows = [];
const tasks = uniqueTasks(7, 480);
for (let i = 0; i < tasks.length; ) {
  // Every third conversation has two turns, so the set exercises multi-turn masking.
  const turns = i % 3 === 0 ? 2 : 1;
  const messages = [{ role: 'system', content: SYSTEM }];
  for (let t = 0; t < turns && i < tasks.length; t++, i++) {
    const task = tasks[i];
    messages.push({ role: 'user', content: `${task.instruction}\n${task.input}` });
    messages.push({ role: 'assistant', content: task.output });
  }
  chatRows.push({ messages });
}
write('examples/chat/conversations.jsonl', chatRows);
