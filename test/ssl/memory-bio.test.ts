/** MemoryBIO semantics (sslproto-spec BIO-1..BIO-7). */
import { expect } from 'chai';
import { MemoryBIO, SSLError } from '../../lib';

describe('MemoryBIO', () => {
  it('starts empty and not at EOF (BIO-1)', () => {
    const bio = new MemoryBIO();
    expect(bio.pending).to.equal(0);
    expect(bio.eof).to.equal(false);
  });

  it('write returns the byte count and accepts any bytes-like object (BIO-2)', () => {
    const bio = new MemoryBIO();
    expect(bio.write(Buffer.from('abc'))).to.equal(3);
    expect(bio.write(new Uint8Array([1, 2]))).to.equal(2);
    expect(bio.write(new Uint16Array([1]))).to.equal(2);
    expect(bio.write(new Uint8Array([9, 9]).buffer)).to.equal(2);
    expect(bio.write(Buffer.alloc(0))).to.equal(0);
    expect(bio.pending).to.equal(9);
  });

  it('rejects strings and non-bytes with a TypeError (BIO-2)', () => {
    const bio = new MemoryBIO();
    expect(() => bio.write('text' as unknown as Buffer)).to.throw(TypeError, /bytes-like/);
    expect(() => bio.write(42 as unknown as Buffer)).to.throw(TypeError);
    expect(() => bio.write(null as unknown as Buffer)).to.throw(TypeError);
  });

  it('read(n) returns at most n bytes, everything for n < 0 or n > pending (BIO-4)', () => {
    const bio = new MemoryBIO();
    bio.write(Buffer.from('hello world'));
    expect(bio.read(5).toString()).to.equal('hello');
    expect(bio.pending).to.equal(6);
    expect(bio.read(0).length).to.equal(0);
    expect(bio.read(100).toString()).to.equal(' world');
    expect(bio.read().length).to.equal(0);
    bio.write(Buffer.from('xyz'));
    expect(bio.read(-1).toString()).to.equal('xyz');
  });

  it('writeEof marks EOF only once the data is read (BIO-6, BIO-7)', () => {
    const bio = new MemoryBIO();
    bio.write(Buffer.from('tail'));
    bio.writeEof();
    bio.writeEof();
    expect(bio.eof).to.equal(false);
    expect(bio.read().toString()).to.equal('tail');
    expect(bio.eof).to.equal(true);
    expect(bio.read().length).to.equal(0);
  });

  it('refuses write after writeEof with an SSLError (BIO-3)', () => {
    const bio = new MemoryBIO();
    bio.writeEof();
    expect(() => bio.write(Buffer.from('x'))).to.throw(SSLError, /after writeEof/);
  });

  it('readInto copies into a caller buffer and checks the window', () => {
    const bio = new MemoryBIO();
    bio.write(Buffer.from('0123456789'));
    const target = Buffer.alloc(8, 0x2e);
    expect(bio.readInto(target, 2, 4)).to.equal(4);
    expect(target.toString()).to.equal('..0123..');
    expect(() => bio.readInto(target, 6, 4)).to.throw(RangeError);
    expect(bio.pending).to.equal(6);
  });
});
