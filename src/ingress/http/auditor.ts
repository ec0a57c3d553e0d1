/** The auditor's routes: receipts, the latest checkpoint, inclusion proofs and archives of any ledger (the platform's too). */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { GovernorService } from "../../app/governor-service.ts";
import type { LedgerId } from "../../ledger/receipt.ts";
import type { RouteContext } from "./context.ts";
import { ApiError, ApiErrorCode, zodMessage } from "./errors.ts";
import { accountParam } from "./params.ts";

const ReceiptsQuery = z.object({
  from: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});
const ProofQuery = z.object({ seq: z.coerce.number().int().min(0), size: z.coerce.number().int().min(1).optional() });

async function ensureLedger(service: GovernorService, ledger: LedgerId): Promise<void> {
  if (!(await service.ledgerExists(ledger))) throw new ApiError(404, ApiErrorCode.tenantUnknown, `no ledger "${ledger}" exists here`);
}

export function registerAuditorRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { service, auth } = ctx;

  app.get("/v1/tenants/:account/receipts", { preHandler: auth("auditor") }, async (req, reply) => {
    const ledger = accountParam(req, true);
    const q = ReceiptsQuery.safeParse(req.query);
    if (!q.success) throw new ApiError(400, ApiErrorCode.queryInvalid, zodMessage(q.error));
    await ensureLedger(service, ledger);
    const { receipts, size } = await service.receipts(ledger, q.data.from, q.data.limit);
    return reply
      .header("content-type", "application/x-ndjson; charset=utf-8")
      .header("x-ledger-size", String(size))
      .send(receipts.map((r) => `${JSON.stringify(r)}\n`).join(""));
  });

  app.get("/v1/tenants/:account/checkpoint", { preHandler: auth("auditor") }, async (req, reply) => {
    const ledger = accountParam(req, true);
    await ensureLedger(service, ledger);
    const cp = await service.checkpoint(ledger);
    if (cp === null) throw new ApiError(404, ApiErrorCode.notFound, `ledger ${ledger} has no checkpoint yet`);
    return reply.header("content-type", "text/plain; charset=utf-8").header("x-tree-size", String(cp.size)).send(cp.note);
  });

  app.get("/v1/tenants/:account/proof", { preHandler: auth("auditor") }, async (req) => {
    const ledger = accountParam(req, true);
    const q = ProofQuery.safeParse(req.query);
    if (!q.success) throw new ApiError(400, ApiErrorCode.queryInvalid, `${zodMessage(q.error)} (use ?seq=N[&size=M])`);
    await ensureLedger(service, ledger);
    const proof = await service.proof(ledger, q.data.seq, q.data.size);
    if (proof.kind === "out_of_range") throw new ApiError(400, ApiErrorCode.queryInvalid, proof.message);
    const { kind: _, ...body } = proof;
    return body;
  });

  app.get("/v1/tenants/:account/export", { preHandler: auth("auditor") }, async (req, reply) => {
    const ledger = accountParam(req, true);
    await ensureLedger(service, ledger);
    const archive = await service.exportArchive(ledger);
    return reply
      .header("content-type", "application/gzip")
      .header("content-disposition", `attachment; filename="${ledger}-${archive.size}.tar.gz"`)
      .header("x-archive-sha256", archive.sha256)
      .send(archive.stream);
  });
}
