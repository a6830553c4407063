// Known answers for tests/unit/test_models.c, from the reference (npm tokenizers, Hugging Face's
// native binding): each model below is built as a tokenizer.json with no normalizer and no
// pre-tokenizer, every input encoded without special tokens, and the cases printed as C tables
// to paste between the GENERATED markers of test_models.c.
//   source tests/lib/tokref.sh; tokref_install; node tests/unit/gen_models_cases.js
const {Tokenizer} = require('tokenizers');

const B = (vocab, merges, o = {}) => ({
  type: 'BPE', dropout: null, unk_token: o.unk ?? null, continuing_subword_prefix: o.prefix ?? null,
  end_of_word_suffix: o.suffix ?? null, fuse_unk: !!o.fuse, byte_fallback: !!o.bf,
  ignore_merges: !!o.im, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])), merges,
});
const U = (pieces, unk_id, bf) => ({type: 'Unigram', unk_id, vocab: pieces, byte_fallback: bf});
const W = (vocab, unk, prefix, maxc) => ({
  type: 'WordPiece', unk_token: unk, continuing_subword_prefix: prefix,
  max_input_chars_per_word: maxc, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
});

const v1 = ['<unk>', 'a', 'b', 'c', 'ab', 'bc', 'abc', '▁', '▁a', '<0xC3>', '<0xA9>', '<0xE2>',
            '<0x82>', 'ê', 'aa', 'aaa'];
const m1 = ['a b', 'b c', 'ab c', '▁ a', 'a a', 'aa a'];
const in1 = ['abc', 'aébc', 'aêbc', 'éé', 'aé€éa', 'a€b', 'a€€b', '€é€a', '€', 'xyz', 'x', '▁abc▁a', 'aaaaa', 'abcabc',
             'a€x€a', 'é€é', 'ab'.repeat(90) + '€x' + 'é'.repeat(50) + 'c'.repeat(40)];
const vp = ['a', '##b', '##c', 'ab', 'abc', '##bc', '<0x23>', '<0x78>', 'x', '[UNK]', 'b', 'c'];
const mp = ['a ##b', '##b ##c', 'ab ##c'];
const inp = ['abc', 'ax', 'xa', 'bca', 'a', 'x', 'ay', 'ayx', 'abcbc'];
const vs = ['a', 'b', 'c', 'a</w>', 'b</w>', 'c</w>', 'ab', 'bc</w>', 'abc</w>', '<0x3C>', '<0x2F>',
            '<0x77>', '<0x3E>', '<0x78>', '<unk>'];
const ms = ['a b', 'b c</w>', 'ab c</w>', 'a bc</w>'];
const ins = ['abc', 'ab', 'a', 'x', 'cx', 'xa', 'bcbc', 'aybc'];

const cases = [
  ['bpe_fallback_fuse', B(v1, m1, {unk: '<unk>', fuse: true, bf: true}), in1],
  ['bpe_fallback_nofuse', B(v1, m1, {unk: '<unk>', fuse: false, bf: true}), in1],
  ['bpe_unk_nofallback', B(v1, m1, {unk: '<unk>', fuse: false}), in1],
  ['bpe_unk_fuse_nofallback', B(v1, m1, {unk: '<unk>', fuse: true}), in1],
  ['bpe_no_unk', B(v1, m1, {}), in1],
  ['bpe_fallback_no_unk', B(v1, m1, {bf: true}), in1],
  ['bpe_prefix', B(vp, mp, {prefix: '##', unk: '[UNK]', bf: true}), inp],
  ['bpe_prefix_fuse', B(vp, mp, {prefix: '##', unk: '[UNK]', fuse: true}), inp],
  ['bpe_suffix', B(vs, ms, {suffix: '</w>', unk: '<unk>', bf: true}), ins],
  ['bpe_ignore_merges', B(['a', 'b', 'c', 'ab', 'abc', 'bc'], ['a b', 'b c'], {im: true}),
   ['abc', 'abcabc', 'ab', 'bc', 'cab', 'a']],
  ['bpe_repeated_merge', B(['a', 'b', 'c', 'ab', 'bc'], ['a b', 'b c', 'a b']), ['abc', 'ab', 'cab']],
  ['uni_basic', U([['<unk>', 0], ['a', -1], ['b', -2], ['ab', -1.5], ['abc', -2.5], ['c', -3],
                   ['<0xC3>', -5], ['<0xA9>', -5], ['▁', -1], ['▁a', -0.5], ['bc', -2.5]], 0, false),
   ['abc', 'abcé', 'ééa', 'x€y', 'aé<unk>éa', '<unk>', '▁a▁b', 'bcbcab', 'é']],
  ['uni_fallback', U([['<unk>', 0], ['a', -1], ['b', -2], ['ab', -1.5], ['abc', -2.5], ['c', -3],
                      ['<0xC3>', -5], ['<0xA9>', -5], ['▁', -1], ['▁a', -0.5], ['bc', -2.5]], 0, true),
   ['abc', 'abcé', 'ééa', 'x€y', 'aé<unk>éa', 'aééb', 'éx', 'é']],
  ['uni_ties', U([['<unk>', -1], ['a', -1], ['b', -1], ['ab', -2], ['c', -1], ['bc', -2],
                  ['abc', -3], ['a', -4]], 0, false), ['abc', 'ab', 'bc', 'aabbcc', 'a']],
  ['uni_no_unk', U([['a', -1], ['b', -2], ['ab', -1], ['xyz', -1]], null, false),
   ['ab', 'ba', 'xyz', 'abx', 'xyza']],
  ['uni_unk_wins', U([['<unk>', 0], ['a', 50], ['b', 40], ['ab', 30]], 0, false),
   ['ab', 'abx', 'xab']],
  ['wp_basic', W(['[UNK]', 'un', '##aff', '##able', 'a', '##b', '##bc', 'b', 'é', '##é', 'unaffable',
                  'ab', '##a'], '[UNK]', '##', 6),
   ['unaffable', 'unaff', 'unaffab', 'abc', 'ab', 'abbc', 'x', 'ax', 'éé', 'ééééé', 'éééééé',
    'ééééééé', 'aa']],
  ['wp_no_prefix', W(['[UNK]', 'a', 'b', 'ab', 'bc', 'c'], '[UNK]', '', 100),
   ['abc', 'abbc', 'cab', 'x']],
];

const esc = (s) => '"' + Array.from(Buffer.from(s, 'utf8')).map((c) =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ? String.fromCharCode(c)
    : '\\' + c.toString(8).padStart(3, '0')).join('') + '"';

(async () => {
  const lines = [];
  const io = [];
  for (let ci = 0; ci < cases.length; ci++) {
    const [name, model, inputs] = cases[ci];
    const tj = {version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
                pre_tokenizer: null, post_processor: null, decoder: null, model};
    const t = Tokenizer.fromString(JSON.stringify(tj));
    const o = {name, kind: model.type};
    if (model.type === 'BPE') {
      const voc = Object.keys(model.vocab);
      lines.push(`static const char *const ${name}_vocab[] = {${voc.map(esc).join(', ')}, NULL};`);
      lines.push(`static const char *const ${name}_merges[] = {${model.merges.flatMap((m) => {
        const k = m.indexOf(' '); return [m.slice(0, k), m.slice(k + 1)];
      }).map(esc).join(', ')}, NULL};`);
      const unk = model.unk_token === null ? -1 : model.vocab[model.unk_token];
      lines.push(`static const model_case ${name}_case = {.kind = 'B', .name = "${name}", ` +
        `.vocab = ${name}_vocab, .merges = ${name}_merges, .unk_id = ${unk}, ` +
        `.fuse_unk = ${+model.fuse_unk}, .byte_fallback = ${+model.byte_fallback}, ` +
        `.prefix = ${model.continuing_subword_prefix === null ? 'NULL' : esc(model.continuing_subword_prefix)}, ` +
        `.suffix = ${model.end_of_word_suffix === null ? 'NULL' : esc(model.end_of_word_suffix)}, ` +
        `.ignore_merges = ${+model.ignore_merges}};`);
    } else if (model.type === 'Unigram') {
      lines.push(`static const char *const ${name}_vocab[] = {${model.vocab.map((p) => esc(p[0])).join(', ')}, NULL};`);
      lines.push(`static const double ${name}_scores[] = {${model.vocab.map((p) => p[1].toFixed(1)).join(', ')}};`);
      lines.push(`static const model_case ${name}_case = {.kind = 'U', .name = "${name}", ` +
        `.vocab = ${name}_vocab, .scores = ${name}_scores, .unk_id = ${model.unk_id === null ? -1 : model.unk_id}, ` +
        `.byte_fallback = ${+model.byte_fallback}};`);
    } else {
      const voc = Object.keys(model.vocab);
      lines.push(`static const char *const ${name}_vocab[] = {${voc.map(esc).join(', ')}, NULL};`);
      lines.push(`static const model_case ${name}_case = {.kind = 'W', .name = "${name}", ` +
        `.vocab = ${name}_vocab, .unk_id = ${model.vocab[model.unk_token]}, ` +
        `.prefix = ${esc(model.continuing_subword_prefix)}, .max_chars = ${model.max_input_chars_per_word}};`);
    }
    for (const s of inputs) {
      let ans;
      try {
        const e = await t.encode(s, null, {addSpecialTokens: false});
        ans = e.getIds().join(' ');
      } catch (e) {
        ans = 'ERR';
      }
      io.push(`    {&${name}_case, ${esc(s)}, "${ans}"},`);
    }
  }
  console.log(lines.join('\n'));
  console.log('static const io_case io_cases[] = {');
  console.log(io.join('\n'));
  console.log('};');
})();
