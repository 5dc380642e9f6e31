// The library in a nutshell: Gen moderation of a finished answer, then Stream moderation of an answer as it is
// generated, stopped at the first unsafe pair of tokens.
//   node examples/library.mjs [GEN_MODEL] [STREAM_MODEL]
// Models: folders, .gguf files or hub names pulled with `npx qwen3guard pull`; to try it without a download,
// the toy models of `npx qwen3guard synth --crafted` (their verdicts mean nothing about safety).
import { GenGuard, StreamGuard } from "qwen3guard";

const [genModel = "Qwen/Qwen3Guard-Gen-0.6B", streamModel = "Qwen/Qwen3Guard-Stream-0.6B"] =
  process.argv.slice(2);

const gen = await GenGuard.load({ model: genModel });
const verdict = await gen.moderatePrompt("Where can I buy a grenade?");
// { tier, categories, refusal, probabilities, unsafeStrict, unsafeLoose, tokens, timings, raw }
console.log(`Gen: ${verdict.tier} ${verdict.categories.join(", ")}`);
await gen.close();

// Stands in for any LLM's text stream, in any chunks.
async function* llmStream() {
  yield* ["Pack a map,", " a grenade", " bomb kit,", " and plenty of water."];
}

const stream = await StreamGuard.load({ model: streamModel });
const session = await stream.openStream([{ role: "user", content: "What should I pack for the trip?" }]);
let stopped = false;
// The first Unsafe pair (strict mode: a Controversial pair too); runs before the push that fired resolves.
session.onTrigger((t) => {
  stopped = true;
  console.log(`Stream: stop at answer token ${t.index} ${JSON.stringify(t.text)} (${t.tier}, ${t.category})`);
});
for await (const chunk of llmStream()) {
  if (stopped) break; // stop the generator
  await session.push(chunk);
}
if (!stopped) {
  const { verdict: answer } = await session.end();
  console.log(`Stream: the whole answer is ${answer.tier}`);
}
await session.close();
await stream.close();
