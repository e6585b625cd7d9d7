// One agent loop against engram, in TypeScript: append the user's message,
// compose the context, answer, append the answer, keep what was learnt as a
// fact.
//
// Run it next to a sidecar (`cargo run -- serve` in another shell):
//
//     cd examples/typescript && npm ci && npm run build
//     npm start                    # ENGRAM_ADDR=host:port to point elsewhere
//
// `answer()` stands in for your model: replace it with your LLM call. The
// script checks what it relies on and exits non-zero when engram does not
// do it (the test command runs it when node is installed).
//
// Pitfalls of the proto in JavaScript, with @grpc/proto-loader:
// - Field names: proto-loader turns them into camelCase unless
//   `keepCase: true` (used here, so that the names are the proto's:
//   `tenant_id`, `token_budget`).
// - Enums: with `enums: String`, send the full name, `'ROLE_USER'`. An
//   unknown name (`'USER'`) is silently sent as 0, ROLE_UNSPECIFIED, which
//   engram refuses with INVALID_ARGUMENT naming `messages[0].role`.
// - 64-bit integers (`seq`, `full_history_tokens`, `took_micros`) do not
//   fit a JavaScript number: with `longs: String` they arrive as strings.
// - `value_json` is JSON *inside a string*: `JSON.stringify('mornings')`,
//   not `'mornings'`; read it back with `JSON.parse`.

import * as path from "node:path";
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const TENANT = "demo-clinic";
const PROTO_DIR = path.resolve(__dirname, "..", "..", "..", "proto");

const definition = protoLoader.loadSync(
  ["engram/v1/memory.proto", "engram/v1/facts.proto"],
  { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true },
);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const engram = (grpc.loadPackageDefinition(definition) as any).engram.v1;

type Unary = (request: object, callback: (err: grpc.ServiceError | null, reply: any) => void) => void;

/** A unary call as a promise. */
function call<T = any>(client: grpc.Client, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, Unary>)[method].bind(client);
    fn(request, (err, reply) => (err ? reject(err) : resolve(reply as T)));
  });
}

/** Stands in for the model: your LLM call goes here, with `prompt`. */
function answer(prompt: string, userText: string): string {
  void prompt;
  return /terça|tuesday/i.test(userText)
    ? "Temos terça às 9h ou às 10h30. Qual prefere?"
    : "Claro! Que dia prefere para a limpeza?";
}

/** One turn, in the call order engram expects. */
async function turn(memory: grpc.Client, user: string, conversation: string, text: string) {
  const ids = { tenant_id: TENANT, conversation_id: conversation, user_id: user };
  // 1. Store the user's message first (its id makes a retry harmless).
  await call(memory, "AppendMessages", {
    ...ids,
    messages: [{ message_id: `in-${randomUUID()}`, role: "ROLE_USER", content: text }],
  });
  // 2. Compose with the same text as input: engram sees it is the newest
  //    message and does not put it in the prompt twice.
  const ctx = await call(memory, "ComposeContext", {
    ...ids,
    input: text,
    token_budget: 800,
    model: "gpt-4o",
  });
  // 3. Ask the model with the composed prompt.
  const reply = answer(ctx.text, text);
  // 4. Store the answer.
  await call(memory, "AppendMessages", {
    ...ids,
    messages: [{ role: "ROLE_ASSISTANT", content: reply }],
  });
  return { ctx, reply };
}

function check(ok: boolean, what: string) {
  if (!ok) throw new Error(`engram did not do what the loop relies on: ${what}`);
}

async function main() {
  const addr = (process.env.ENGRAM_ADDR ?? "127.0.0.1:50051").replace(/^http:\/\//, "");
  const credentials = grpc.credentials.createInsecure();
  const memory: grpc.Client = new engram.MemoryService(addr, credentials);
  const facts: grpc.Client = new engram.FactsService(addr, credentials);
  const suffix = randomUUID().slice(0, 8);
  const user = `u-${suffix}`;
  const conversation = `c-${suffix}`;

  let { reply } = await turn(memory, user, conversation, "Olá, quero marcar uma limpeza");
  console.log(`agent: ${reply}`);

  // What the agent learnt is a fact: structured, current, with history.
  await call(facts, "PutFacts", {
    tenant_id: TENANT,
    user_id: user,
    facts: [{ key: "preferred_time", value_json: JSON.stringify("mornings") }],
  });

  const text = "Pode ser terça de manhã?";
  const second = await turn(memory, user, conversation, text);
  reply = second.reply;
  const ctx = second.ctx;
  console.log(`agent: ${reply}`);
  console.log("--- the prompt of the second turn ---");
  process.stdout.write(ctx.text);
  console.log(
    `--- ${ctx.tokens.composed_tokens} tokens composed; a prompt of the whole history ` +
      `would take ${ctx.tokens.full_history_tokens} (${ctx.tokens.tokenizer})`,
  );

  check(ctx.text.split(text).length === 2, "the input is in the prompt once");
  check(ctx.text.includes('preferred_time: "mornings"'), "the fact is in the prompt");
  check(ctx.text.includes("Olá, quero marcar uma limpeza"), "the first turn is recalled");
  check(typeof ctx.tokens.full_history_tokens === "string", "uint64 arrives as a string");
  check(JSON.parse(ctx.context.facts[0].fact.value_json) === "mornings", "value_json is JSON");

  // The pitfall: 'USER' is not an enum name, so it is sent as 0.
  try {
    await call(memory, "AppendMessages", {
      tenant_id: TENANT,
      conversation_id: conversation,
      user_id: user,
      messages: [{ role: "USER", content: "a role that is not one" }],
    });
    check(false, "a message with role 'USER' must be refused");
  } catch (e) {
    const err = e as grpc.ServiceError;
    check(err.code === grpc.status.INVALID_ARGUMENT, `INVALID_ARGUMENT, not ${err.code}`);
    console.log(`refused as expected: ${err.details}`);
  }
  memory.close();
  facts.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
