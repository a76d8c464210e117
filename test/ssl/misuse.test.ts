/** Misuse gives a JS error, never a crash: closed objects, bad arguments, shared BIOs, GC. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { MemoryBIO, SSLContext, SSLError, SSLObject, SSLWantReadError } from '../../lib';
import { clientContext, handshake, makePair, send, serverContext } from '../helpers/pair';

describe('SSLObject misuse', () => {
  it('has no public constructor (OBJ-1)', () => {
    const Ctor = SSLObject as unknown as new (...args: unknown[]) => SSLObject;
    expect(() => new Ctor()).to.throw(TypeError, /does not have a public constructor/);
  });

  it('rejects non-MemoryBIO arguments and one BIO used for both directions', () => {
    const ctx = serverContext();
    const bio = new MemoryBIO();
    expect(() => ctx.wrapBio(null as unknown as MemoryBIO, bio, { serverSide: true })).to.throw(TypeError);
    expect(() => ctx.wrapBio({} as MemoryBIO, bio, { serverSide: true })).to.throw(TypeError);
    expect(() => ctx.wrapBio(bio, bio, { serverSide: true })).to.throw(TypeError, /two different/);
  });

  it('gives clear errors for every call after close()', () => {
    const pair = makePair(clientContext(), serverContext());
    handshake(pair);
    pair.client.ssl.close();
    pair.client.ssl.close();
    expect(() => pair.client.ssl.read()).to.throw(SSLError, /closed/);
    expect(() => pair.client.ssl.write(Buffer.from('x'))).to.throw(SSLError, /closed/);
    expect(() => pair.client.ssl.doHandshake()).to.throw(SSLError, /closed/);
    expect(() => pair.client.ssl.unwrap()).to.throw(SSLError, /closed/);
    expect(() => pair.client.ssl.exportKeyingMaterial(16, 'x')).to.throw(SSLError, /closed/);
    expect(pair.client.ssl.version()).to.equal(null);
    expect(pair.client.ssl.pending()).to.equal(0);
    // The BIOs outlive the SSLObject (BIO-8).
    pair.client.incoming.read();
    pair.client.incoming.write(Buffer.from('still usable'));
    expect(pair.client.incoming.read().toString()).to.equal('still usable');
  });

  it('rejects wrong argument types with TypeErrors', () => {
    const pair = makePair(clientContext(), serverContext());
    handshake(pair);
    expect(() => pair.client.ssl.write('text' as unknown as Buffer)).to.throw(TypeError);
    expect(() => pair.client.ssl.read('x' as unknown as number)).to.throw(TypeError);
    expect(() => pair.client.ssl.read(-1)).to.throw(RangeError, /negative/);
    expect((pair.client.ssl.read(0) as Buffer).length).to.equal(0);
    expect(pair.client.ssl.read(10, new Uint8Array(0))).to.equal(0);
    expect(() => pair.client.ssl.exportKeyingMaterial('a' as unknown as number, 'x')).to.throw(TypeError);
    expect(() => pair.client.ssl.exportKeyingMaterial(0, 'x')).to.throw(RangeError);
    expect(() => new SSLContext(3 as never)).to.throw(TypeError);
    expect(() => serverContext().setCiphers('NO-SUCH-CIPHER')).to.throw(SSLError);
    expect(() => serverContext().loadCertChain(42 as never)).to.throw(TypeError);
    expect(() => serverContext().setAlpnProtocols(['x'.repeat(300)])).to.throw(TypeError);
  });

  it('survives one MemoryBIO shared between two SSLObjects', () => {
    const ctx = serverContext();
    const shared = new MemoryBIO();
    const a = ctx.wrapBio(shared, new MemoryBIO(), { serverSide: true });
    const b = ctx.wrapBio(shared, new MemoryBIO(), { serverSide: true });
    shared.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2]));
    expect(() => a.doHandshake()).to.throw(SSLError);
    expect(() => b.doHandshake()).to.throw(SSLWantReadError);
    a.close();
    b.close();
  });

  it('survives garbage collection of contexts, BIOs and objects in use', function () {
    this.timeout(60000);
    const script = path.join(__dirname, '..', 'helpers', 'gc-churn.js');
    const result = spawnSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8' });
    expect(result.stderr).to.equal('');
    expect(result.status).to.equal(0);
    expect(result.stdout.trim()).to.equal('gc churn ok');
  });

  describe('native size reported to V8', () => {
    // V8 cannot see OpenSSL's memory; each SSLObject reports an estimate of
    // it, so that many open connections push V8 into full collections.
    const script = path.join(__dirname, '..', 'helpers', 'native-size-report.js');
    function run(nodeFlag: string, mode: string): string {
      const result = spawnSync(process.execPath, [nodeFlag, script, mode], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
      expect(result.stderr).to.equal('');
      expect(result.status).to.equal(0);
      expect(result.stdout).to.include(`native size ${mode} done`);
      return result.stdout;
    }

    it('adds the size once per SSLObject and gives it back once, on close() or on collection', function () {
      this.timeout(60000);
      const steps = JSON.parse(run('--expose-gc', 'account').split('\n')[0]) as Record<string, number>;
      const size = steps.size;
      expect(size).to.be.at.least(32 * 1024);
      const { collected, ...synchronous } = steps;
      expect(synchronous).to.deep.equal({ size, opened: 20 * size, closed: 10 * size, closedTwice: 10 * size });
      // Exactly 0 unless node itself reported a few bytes meanwhile; one
      // object's report missing or given back twice is a whole size off.
      expect(Math.abs(collected)).to.be.below(size / 2);
    });

    it("is what V8 acts on: 2,000 held SSLObjects make it mark for 'external memory pressure'", function () {
      this.timeout(60000);
      // The trace line is V8's own statement of why it started marking.
      expect(run('--trace-incremental-marking', 'hold')).to.include('external memory pressure');
    });
  });

  it('keeps working when only the SSLObject is referenced (context and BIOs unreachable from JS)', () => {
    const pair = makePair(clientContext(), serverContext());
    handshake(pair);
    (global as { gc?: () => void }).gc?.();
    expect(send(pair.client, pair.server, Buffer.from('after gc')).toString()).to.equal('after gc');
  });
});
