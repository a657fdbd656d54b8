// The live trainer nodes, from their heartbeats (core NATS, no stream): a node silent for three of its own
// heartbeat intervals is no longer listed.

import { type Device, SUBJECTS, type TrainerNode, TrainerNodeHeartbeat } from '@tunemesh/proto';
import type { NatsConnection, Subscription } from 'nats';

interface Seen {
  node: TrainerNode;
  intervalMs: number;
  at: number;
}

export class NodeRegistry {
  private readonly seen = new Map<string, Seen>();
  private sub: Subscription | undefined;

  start(nc: NatsConnection): void {
    this.sub = nc.subscribe(SUBJECTS.allHeartbeats, {
      callback: (err, msg) => {
        if (err !== null) return;
        try {
          const hb = TrainerNodeHeartbeat.decode(msg.data);
          if (hb.node === undefined) return;
          this.seen.set(hb.node.id, { node: hb.node, intervalMs: hb.intervalSeconds * 1000, at: Date.now() });
        } catch {
          // Not a heartbeat: ignore rather than let one bad publisher stop the listing.
        }
      },
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  live(device: Device): TrainerNode[] {
    const now = Date.now();
    const out: TrainerNode[] = [];
    for (const [id, s] of this.seen) {
      if (now - s.at > 3 * s.intervalMs) {
        this.seen.delete(id);
        continue;
      }
      if (device === 0 || s.node.device === device) out.push(s.node);
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }
}
