#!/usr/bin/env node
// Records what Twilio's reference calculator, the npm package `sms-segments-calculator`, says
// about a few hundred message bodies, so that tests/templates/test_encoding.py can hold
// templates/encoding.py to it. Run by hand (not by CI) when the reference changes:
//
//   mkdir -p /tmp/segcalc && cd /tmp/segcalc && npm init -y && npm install sms-segments-calculator
//   node tests/templates/data/make_segment_corpus.mjs /tmp/segcalc
//
// It writes segment_corpus.json next to itself. The output is deterministic: fixed cases plus
// messages from a seeded generator. Options, for a bigger one-off comparison:
//   --out PATH     write there instead
//   --random N     number of random messages (default 320)
//   --seed S       seed of the random messages (default 20240917)
//
// Each entry: {"name", "text", "plain": result, "smart": result}, where a result holds the
// reference's encodingName, segmentsCount, numberOfCharacters, graphemes.length, the code
// units it counts (septets or UTF-16 units), the distinct non-GSM clusters in order of first
// appearance, and, for "smart" only and only when Smart Encoding changed something, the text
// it analysed.

import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const options = { out: path.join(here, 'segment_corpus.json'), random: 320, seed: 20240917 };
const positional = [];
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i];
  if (arg.startsWith('--')) options[arg.slice(2)] = process.argv[++i];
  else positional.push(arg);
}
const packageDir = path.resolve(positional[0] ?? '/tmp/segcalc');
const require = createRequire(path.join(packageDir, 'package.json'));
const { SegmentedMessage } = require('sms-segments-calculator');
const calculatorVersion = require('sms-segments-calculator/package.json').version;
const splitterVersion = require(
  require.resolve('grapheme-splitter/package.json', {
    paths: [path.dirname(require.resolve('sms-segments-calculator'))],
  }),
).version;

// ---- Fixed cases -------------------------------------------------------------------------

const cases = [];
const add = (name, text) => cases.push({ name, text });
const digits = (n) => '1234567890'.repeat(Math.ceil(n / 10)).slice(0, n);
const letters = (n) => 'Hello world. '.repeat(Math.ceil(n / 13)).slice(0, n);

add('empty', '');
for (const n of [1, 70, 152, 153, 154, 159, 160, 161, 305, 306, 307, 308, 459, 460, 461, 1600]) {
  add(`${n} digits`, digits(n));
}
add('GSM basic alphabet', "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà');
add('GSM extension alphabet', '\f^{}\\[~]|€');

const extension = ['€', '{', '}', '[', ']', '~', '|', '\\', '^', '\f'];
for (const ext of extension) {
  const label = JSON.stringify(ext);
  add(`${label} + 158 digits`, ext + digits(158));
  add(`${label} + 159 digits`, ext + digits(159));
  for (const position of [152, 153, 154, 159, 160, 161]) {
    add(`${label} at ${position}`, digits(position - 1) + ext);
    add(`${label} at ${position}, 200 long`, digits(position - 1) + ext + digits(200 - position));
  }
  add(`${label} at 306, 320 long`, digits(305) + ext + digits(14));
}
for (const n of [76, 77, 80, 81, 153, 154]) add(`${n} euro signs`, '€'.repeat(n));
add('alternating { and digit, 330 long', '{1'.repeat(165));

for (const n of [1, 66, 67, 68, 69, 70, 71, 133, 134, 135, 201, 202]) add(`${n} x ç`, 'ç'.repeat(n));
for (const n of [160, 161]) add(`${n} x Ç`, 'Ç'.repeat(n));
for (const n of [66, 67, 68, 69, 70, 71, 133, 134, 135]) add(`ç + ${n - 1} digits`, 'ç' + digits(n - 1));
add('ç then Ç', 'çÇ');
add('Ç then ç', 'Çç');

for (const n of [67, 68, 69, 70]) add(`😜 + ${n} digits`, '😜' + digits(n));
for (const p of [64, 65, 66, 67, 68, 69, 70]) {
  add(`😜 after ${p} digits`, digits(p) + '😜');
  add(`😜 after ${p} digits, then 10`, digits(p) + '😜' + digits(10));
  add(`😜 after ${p + 67} digits, then 5`, digits(p + 67) + '😜' + digits(5));
}
for (const n of [33, 34, 35, 36, 67, 68, 800, 801]) add(`${n} x 😜`, '😜'.repeat(n));
add('😜 between ç', 'ç'.repeat(66) + '😜' + 'ç'.repeat(3));

const flags = ['🇺🇸', '🇫🇷', '🇯🇵'];
for (const n of [1, 16, 17, 18, 33, 34]) add(`${n} flags`, flags[0].repeat(n));
add('three flags', flags.join(''));
add('odd regional indicators', '\u{1F1FA}\u{1F1F8}\u{1F1EB}');
add('five regional indicators + digits', '\u{1F1FA}'.repeat(5) + digits(60));
add('flag after 65 digits', digits(65) + flags[1] + digits(3));

const family = '👨‍👩‍👧‍👦';
for (const n of [1, 6, 7, 12, 13]) add(`${n} x ZWJ family`, family.repeat(n));
for (const p of [55, 56, 57, 59, 60, 62]) add(`ZWJ family after ${p} digits`, digits(p) + family + digits(3));
add('couple with heart', '👩‍❤️‍💋‍👨 kiss');
add('ZWJ profession', '👩‍🚀 and 👨‍🔬 and 🏳️‍🌈');

const thumbs = '👍🏽';
for (const n of [17, 18, 34, 35]) add(`${n} x thumbs up, skin tone`, thumbs.repeat(n));
add('skin tones', '👋🏻👋🏼👋🏽👋🏾👋🏿');
add('modifier alone', '\u{1F3FD}abc');
add('modifier after letter', 'a\u{1F3FD}');
add('base, extend, modifier', '\u{1F44D}\u0301\u{1F3FD}');
add('base, two extends, modifier', '\u{1F44D}\u0301\u0301\u{1F3FD}');
add('boy, modifier', '\u{1F466}\u{1F3FF}');
add('ZWJ then boy with modifier', '\u200D\u{1F466}\u{1F3FF}');
add('heart with variation selector', '❤️❤️❤️');
add('newer emoji (Unicode 11+)', '🥺🥰🦩🫠 yes');

for (const n of [35, 36, 70, 71]) add(`${n} x e + combining acute`, 'e\u0301'.repeat(n));
for (const n of [160, 161]) add(`${n} x precomposed é`, 'é'.repeat(n));
add('combining marks after CR', '\r\u0301x');
add('combining mark at start', '\u0301abc');
add('stacked combining marks', 'Z\u0351\u036B\u0343\u036A\u0302\u036B\u033D\u034F\u0334\u0319');
add('cluster of 100 units', 'a' + '\u0301'.repeat(99));
add('cluster of 100 units + digits', digits(10) + 'a' + '\u0301'.repeat(99) + digits(10));
add('60 + 10 + 60 unit clusters', 'a' + '\u0301'.repeat(59) + 'b'.repeat(10) + 'c' + '\u0301'.repeat(59));
add('overfilled second segment', 'a' + '\u0301'.repeat(59) + 'b' + '\u0301'.repeat(9) + 'c' + '\u0301'.repeat(59) + 'tail');
add('overfilled second segment, then 20 digits', 'a' + '\u0301'.repeat(59) + 'b' + '\u0301'.repeat(9) + 'c' + '\u0301'.repeat(59) + digits(20));
add('big cluster after 70 units', 'ç'.repeat(70) + 'a' + '\u0301'.repeat(80) + 'zz');
add('long ZWJ chain', Array(30).fill('👨').join('\u200D'));

add('Hangul syllables', '안녕하세요 '.repeat(12));
for (const n of [70, 71]) add(`${n} Hangul syllables`, '한'.repeat(n));
add('Hangul jamo L V T', '\u1100\u1161\u11A8'.repeat(25));
add('Hangul LV + T, LVT + T', '\uAC00\u11A8\uAC01\u11A8\u1100\uAC00');
add('Devanagari', 'नमस्ते दुनिया '.repeat(6));
add('Arabic with prepend', '\u0600' + digits(69));
add('Arabic text', 'مرحبا بالعالم '.repeat(6));
add('CJK', '你好，世界。'.repeat(14));

const lookalikes = {
  'curly double quotes': '\u201Cquoted\u201D',
  'curly single quotes': '\u2018it\u2019s\u2019',
  'en and em dash': 'a \u2013 b \u2014 c',
  ellipsis: 'wait\u2026',
  bullet: '\u2022 item',
  NBSP: 'a\u00A0b',
  tab: 'a\tb',
  backtick: 'a`b',
  'acute accent': 'it\u00B4s',
  guillemets: '\u00ABoui\u00BB',
  'one half': '\u00BD price',
  'full-width ASCII': '\uFF21\uFF22\uFF23\uFF11\uFF12\uFF01',
  'zero-width space': 'a\u200Bb',
  'zero-width non-joiner': 'a\u200Cb',
  'word joiner': 'a\u2060b',
  BOM: '\uFEFFhi',
  'zero-width joiner (not mapped)': 'a\u200Db',
  'ideographic space': 'a\u3000b',
  'line separator': 'a\u2028b',
  'double exclamation': 'wow\u203C',
  'combining tilde': 'n\u0303o',
  'combining circumflex after digit': '1\u0302',
  'NUL and controls': 'a\u0000b\u0003c\u0010d',
  'C1 controls': 'a\u0080b\u009Bc',
  'non-GSM Latin': 'á í ó ú â ê ô ç à',
};
for (const [name, sample] of Object.entries(lookalikes)) {
  add(name, sample);
  add(`${name}, after 150 letters`, letters(150) + sample);
  add(`${name}, after 158 letters`, letters(158) + sample);
  add(`${name}, after 300 letters`, letters(300) + sample);
}
add('every smart-encoded punctuation', '\u201C\u201D\u2018\u2019\u2013\u2014\u2026\u2022\u00A0\t`\u00B4\u00AB\u00BB');

for (const n of [79, 80, 81]) add(`${n} x CRLF`, '\r\n'.repeat(n));
for (const n of [160, 161]) add(`${n} x LF`, '\n'.repeat(n));
for (const n of [160, 161]) add(`${n} x CR`, '\r'.repeat(n));
add('lines with CRLF, 161 long', 'line 1\r\n'.repeat(20) + 'x');
add('lines with LF, 161 long', 'line 1\n'.repeat(23));
add('mixed line breaks', 'a\r\nb\nc\rd\n\re');
add('CRLF in UCS-2', 'ç' + '\r\n'.repeat(34));
add('CRLF in UCS-2, 71 units', 'ç' + '\r\n'.repeat(35));
add('LF + combining mark', '\n\u0301');
add('form feed and vertical tab', 'a\fb\vc');
add('escape character', 'a\u001Bb');

add('lone high surrogate', '\uD83D');
add('lone low surrogate', 'a\uDE1C');
add('lone surrogate + 69 digits', '\uD83D' + digits(69));
add('swapped surrogates', '\uDE1C\uD83D');
add('lookalike Omega and Delta', '\u2126 \u2206');
add('Greek capitals', 'ΓΔΘΛΞΠΣΦΨΩ');
add('Greek look-alike capitals', 'ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ');
add('long UCS-2, 1600 ç', 'ç'.repeat(1600));

// ---- Seeded random messages --------------------------------------------------------------

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(Number(options.seed));
const pick = (items) => items[Math.floor(random() * items.length)];
const upTo = (n) => 1 + Math.floor(random() * n);

const pools = {
  gsm: [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789     .,!?\'"-:;()@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ#¤%&*+/<=>¡ÄÖÑÜ§¿äöñüà'],
  extension: extension,
  breaks: ['\n', '\r\n', '\r'],
  latin: [...'áíóúâêôçÁÍÓÚçãõœÿ'],
  smart: [...'\u201C\u201D\u2018\u2019\u2013\u2014\u2026\u2022\u00A0\t`\u00B4\u00BD\uFF21\uFF01\u200B\u2060\u3000\u00AB\u00BB\u02BC\u2010'],
  emoji: ['😜', '😀', '🎉', '❤️', '👍', '🔥', '🥺', '✅', '☎', '⚡'],
  modified: ['👍🏽', '👋🏿', '🧑🏼', '💪🏻'],
  flags: ['🇺🇸', '🇫🇷', '🇯🇵', '🇧🇷', '\u{1F1E6}'],
  zwj: ['👨‍👩‍👧‍👦', '👩‍🚀', '🏳️‍🌈', '👩‍❤️‍💋‍👨', '\u200D'],
  combining: ['\u0301', '\u0308', '\u0327', '\u0302', '\u0303', '\uFE0F', '\u20E3'],
  scripts: [...'你好世界한국어안녕\u1100\u1161\u11A8नमस्तेمرحبا\u0600Привет'],
};
const weightedPools = [
  ['gsm', 60], ['extension', 4], ['breaks', 3], ['latin', 4], ['smart', 6], ['emoji', 4],
  ['modified', 2], ['flags', 2], ['zwj', 2], ['combining', 3], ['scripts', 5],
];
const totalWeight = weightedPools.reduce((sum, [, weight]) => sum + weight, 0);
function mixedToken() {
  let roll = random() * totalWeight;
  for (const [name, weight] of weightedPools) {
    roll -= weight;
    if (roll < 0) return pick(pools[name]);
  }
  return pick(pools.gsm);
}

// One code point of each grapheme-splitter class, to stress the clustering rules.
const classSamples = [
  '\u0600', '\u{110BD}', '\r', '\n', '\u0000', '\u00AD', '\u200B', '\u2060', '\uFEFF', '\u{E0001}',
  '\u0301', '\u064B', '\uFE0F', '\u{E0020}', '\u200C', '\u{1F1E6}', '\u{1F1FA}', '\u0903',
  '\u093E', '\u1100', '\u1161', '\u11A8', '\uAC00', '\uAC01', 'a', '😜', '\u{1F97A}', '\u261D',
  '\u{1F44D}', '\u{1F3FB}', '\u{1F3FF}', '\u200D', '\u2764', '\u{1F48B}', '\u{1F466}',
  '\u{1F469}', '€', '{',
];

function randomCodePoint() {
  for (;;) {
    const cp = random() < 0.7 ? Math.floor(random() * 0x10000) : Math.floor(random() * 0x110000);
    if (cp < 0xd800 || cp > 0xdfff) return String.fromCodePoint(cp);
  }
}

function randomMessage(index) {
  const kind = index % 8;
  if (kind === 0 || kind === 1) {
    // GSM-7 with extension characters sprinkled in: escape pairs against segment boundaries.
    const length = 100 + Math.floor(random() * 600);
    let text = '';
    while (text.length < length) text += random() < 0.08 ? pick(extension) : pick(pools.gsm);
    return ['GSM-7 with extension characters', text];
  }
  if (kind === 2) {
    // Nearly GSM-7: one look-alike that Smart Encoding can fix, near a boundary.
    const length = pick([150, 155, 158, 159, 160, 161, 300, 306, 307]);
    const at = Math.floor(random() * length);
    const text = letters(length);
    return ['GSM-7 with one look-alike', text.slice(0, at) + pick(pools.smart) + text.slice(at + 1)];
  }
  if (kind === 3) {
    const count = upTo(40);
    return ['grapheme class soup', Array.from({ length: count }, () => pick(classSamples)).join('')];
  }
  if (kind === 4) {
    const count = upTo(120);
    return ['random code points', Array.from({ length: count }, randomCodePoint).join('')];
  }
  // Up to ~700 UTF-16 units of everything mixed.
  const length = upTo(700);
  let text = '';
  while (text.length < length) text += mixedToken();
  return ['mixed alphabets', text];
}

for (let i = 0; i < Number(options.random); i++) {
  const [kind, text] = randomMessage(i);
  add(`random ${i}: ${kind}`, text);
}

// ---- Recording ---------------------------------------------------------------------------

function record(text, smartEncoding) {
  const message = new SegmentedMessage(text, 'auto', smartEncoding);
  const result = {
    encoding: message.encodingName,
    segments: message.segmentsCount,
    characters: message.numberOfCharacters,
    graphemes: message.graphemes.length,
    units: message.encodedChars.reduce((sum, char) => sum + char.codeUnits.length, 0),
    non_gsm: [...new Set(message.getNonGsmCharacters())],
  };
  const analysed = message.graphemes.join('');
  if (smartEncoding && analysed !== text) result.text = analysed;
  return result;
}

const lines = cases.map(({ name, text }) =>
  JSON.stringify({ name, text, plain: record(text, false), smart: record(text, true) }),
);
const header = JSON.stringify({
  reference: `sms-segments-calculator ${calculatorVersion}, grapheme-splitter ${splitterVersion}`,
  generator: 'tests/templates/data/make_segment_corpus.mjs',
  seed: Number(options.seed),
});
writeFileSync(options.out, `{"about": ${header},\n"cases": [\n${lines.join(',\n')}\n]}\n`);
console.log(`${cases.length} cases written to ${options.out}`);
