// Writes examples/sentiment/reviews.jsonl: short film reviews labelled 1 (positive) or 0 (negative), in the
// spirit of the IMDB sentiment task, written from our own word lists so the project ships its data. The same
// seed gives the same file byte for byte (`node examples/sentiment/generate.mjs [rows] [seed]`).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rng } from '../seeded-random.mjs';

const rows = Number(process.argv[2] ?? 3000);
const seed = Number(process.argv[3] ?? 7);

const rand = rng(seed);
const pick = (list) => list[Math.floor(rand() * list.length)];

const subjects = [
  'the film',
  'this movie',
  'the story',
  'the acting',
  'the script',
  'the ending',
  'the cast',
  'the plot',
  'the soundtrack',
  "the director's work",
  'the dialogue',
  'the pacing',
  'the lead',
  'the sequel',
  'the finale',
];
const openers = [
  'I watched it last night.',
  'Saw it with friends.',
  'We rented this on a whim.',
  'Went in with no expectations.',
  'Caught it at the cinema.',
  'My sister picked this one.',
  'Second time watching.',
  'A long weekend film.',
  '',
  '',
];
const closers = [
  'Would I watch it again?',
  'Make up your own mind.',
  'That is all I have to say.',
  'Bring snacks.',
  '',
  '',
  '',
];
const positive = {
  adjectives: [
    'wonderful',
    'brilliant',
    'great',
    'superb',
    'moving',
    'delightful',
    'excellent',
    'charming',
    'gripping',
    'beautiful',
    'fun',
    'clever',
  ],
  verdicts: [
    'I loved it.',
    'A real gem.',
    'Highly recommended.',
    'Worth every minute.',
    'I would see it again.',
    'Pure joy.',
    'Best thing this year.',
  ],
};
const negative = {
  adjectives: [
    'awful',
    'boring',
    'terrible',
    'dull',
    'weak',
    'painful',
    'bad',
    'tedious',
    'clumsy',
    'lifeless',
    'messy',
    'dreadful',
  ],
  verdicts: [
    'I hated it.',
    'A waste of time.',
    'Avoid it.',
    'Not worth the ticket.',
    'I walked out.',
    'Pure boredom.',
    'Worst thing this year.',
  ],
};
const intensifiers = ['', '', 'really ', 'truly ', 'quite ', 'so ', 'very '];

function sentence(side) {
  const form = rand();
  if (form < 0.45) return `${cap(pick(subjects))} was ${pick(intensifiers)}${pick(side.adjectives)}.`;
  if (form < 0.75) return pick(side.verdicts);
  return `What a ${pick(side.adjectives)} ${pick(['film', 'movie', 'story', 'ride', 'evening'])}.`;
}
const cap = (s) => s[0].toUpperCase() + s.slice(1);

const lines = [];
for (let i = 0; i < rows; i++) {
  const label = rand() < 0.5 ? 0 : 1;
  const side = label === 1 ? positive : negative;
  const parts = [pick(openers), sentence(side)];
  if (rand() < 0.6) parts.push(sentence(side));
  parts.push(pick(closers));
  const text = parts.filter((p) => p !== '').join(' ');
  lines.push(JSON.stringify({ text, label }));
}
const out = join(dirname(fileURLToPath(import.meta.url)), 'reviews.jsonl');
writeFileSync(out, `${lines.join('\n')}\n`);
console.log(`wrote ${rows} reviews to ${out}`);
