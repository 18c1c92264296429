// What an API consumer writes in TypeScript: types generated from /v1/schema/ by
// openapi-typescript, requests sent with openapi-fetch, compiled by `tsc --strict`.
//
//   npx openapi-typescript "http://127.0.0.1:8000/v1/schema/?format=json" -o bulk-tasks-api.ts
//
// Logs in, uploads a CSV, polls the task until a worker has processed it, lists
// the organization's tasks two pages deep with the cursor, pages through the
// report lines, refreshes the tokens and logs out; prints a JSON summary.
// tests/clients/test_typescript_client.py compiles it and runs it with node.

import createClient from "openapi-fetch";
import type { components, paths } from "./bulk-tasks-api.js";

type BulkTask = components["schemas"]["BulkTask"];
type ErrorEnvelope = components["schemas"]["ErrorEnvelope"];

const PEOPLE_CSV =
  "email,firstName,lastName\n" +
  "ada@example.com,Ada,Lovelace\n" +
  "not-an-email,Bad,Line\n" +
  "ada@example.com,Ada,Again\n" +
  "grace@example.com,Grace,Hopper\n";

class ApiError extends Error {
  readonly code: number;

  constructor(envelope: ErrorEnvelope) {
    super(`${envelope.error.code}: ${envelope.error.message}`);
    this.code = envelope.error.code;
  }
}

// Every operation's errors are one type, so one function handles them all.
function ok<Body>(result: { data?: Body; error?: ErrorEnvelope }): Body {
  if (result.error !== undefined) {
    throw new ApiError(result.error);
  }
  if (result.data === undefined) {
    throw new Error("an answer the schema does not document");
  }
  return result.data;
}

const baseUrl = process.env.BULK_TASKS_URL ?? "http://127.0.0.1:8000";
const organizationId = process.env.BULK_TASKS_ORGANIZATION ?? "acme";
const client = createClient<paths>({ baseUrl });

const tokens = ok(
  await client.POST("/v1/auth/token", {
    body: {
      email: process.env.BULK_TASKS_EMAIL ?? "",
      password: process.env.BULK_TASKS_PASSWORD ?? "",
    },
  }),
).data;
const headers = { Authorization: `Bearer ${tokens.access}` };

const created = ok(
  await client.POST("/v1/organizations/{organizationId}/bulk-tasks", {
    params: {
      path: { organizationId },
      header: { "Idempotency-Key": `usage-${Date.now()}` },
    },
    headers,
    body: { action: "users.import", file: PEOPLE_CSV, override: false, dryRun: false },
    bodySerializer(body) {
      const form = new FormData();
      form.append("action", body.action);
      form.append("override", String(body.override));
      form.append("dryRun", String(body.dryRun));
      // The form's file is optional in the type: an export (users.export) sends none.
      form.append("file", new Blob([body.file ?? ""], { type: "text/csv" }), "people.csv");
      return form;
    },
  }),
).data;

async function getTask(bulkTaskId: string): Promise<BulkTask> {
  return ok(
    await client.GET("/v1/organizations/{organizationId}/bulk-tasks/{bulkTaskId}", {
      params: { path: { organizationId, bulkTaskId } },
      headers,
    }),
  ).data;
}

let task = await getTask(created.id);
const deadline = Date.now() + 60_000;
while ((task.status === "pending" || task.status === "inProgress") && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  task = await getTask(created.id);
}

const first = ok(
  await client.GET("/v1/organizations/{organizationId}/bulk-tasks", {
    params: { path: { organizationId }, query: { limit: 2 } },
    headers,
  }),
).data;
const pages: string[][] = [first.items.map((item) => item.id)];
if (first.hasMore) {
  const second = ok(
    await client.GET("/v1/organizations/{organizationId}/bulk-tasks", {
      params: { path: { organizationId }, query: { limit: 2, cursor: first.nextCursor } },
      headers,
    }),
  ).data;
  pages.push(second.items.map((item) => item.id));
}

const lines: string[] = [];
let cursor: string | undefined;
for (;;) {
  const page = ok(
    await client.GET("/v1/organizations/{organizationId}/bulk-tasks/{bulkTaskId}/lines", {
      params: { path: { organizationId, bulkTaskId: task.id }, query: { limit: 1, cursor } },
      headers,
    }),
  ).data;
  lines.push(...page.items.map((line) => `${line.line} ${line.kind}: ${line.reason}`));
  if (!page.hasMore) {
    break;
  }
  cursor = page.nextCursor;
}

const refreshed = ok(
  await client.POST("/v1/auth/token/refresh", { body: { refresh: tokens.refresh } }),
).data;
ok(await client.POST("/v1/auth/logout", { body: { refresh: refreshed.refresh } }));
let refusedAfterLogout: number | null = null;
try {
  ok(await client.POST("/v1/auth/token/refresh", { body: { refresh: refreshed.refresh } }));
} catch (error) {
  if (!(error instanceof ApiError)) {
    throw error;
  }
  refusedAfterLogout = error.code;
}

console.log(
  JSON.stringify({
    created: { id: created.id, status: created.status },
    task: {
      status: task.status,
      items: task.report.numItems,
      inserts: task.report.numInserts,
      errors: task.report.numErrors,
      createdBy: task.createdBy?.email ?? null,
    },
    pages,
    lines,
    refusedAfterLogout,
  }),
);
