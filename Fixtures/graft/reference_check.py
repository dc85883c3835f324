"""Independent reader of Graft's .graft format version 1 (Formats/graft.md), written from the spec alone.

Checks the magic, trailer, header checksum, every tensor checksum, zero padding, deflate blocks (unshuffled) and the
content digest, with a pure-Python XXH64. Usage: python3 reference_check.py FILE.graft
"""
import struct, json, sys, zlib
M=(1<<64)-1
P1,P2,P3,P4,P5=0x9E3779B185EBCA87,0xC2B2AE3D27D4EB4F,0x165667B19E3779F9,0x85EBCA77C2B2AE63,0x27D4EB2F165667C5
rotl=lambda x,r:((x<<r)|(x>>(64-r)))&M
def rnd(a,i): return (rotl((a+i*P2)&M,31)*P1)&M
def merge(h,v): return ((h^rnd(0,v))*P1+P4)&M
def xxh64(b,seed=0):
    n=len(b);p=0
    if n>=32:
        v=[(seed+P1+P2)&M,(seed+P2)&M,seed,(seed-P1)&M]
        while p+32<=n:
            for k in range(4): v[k]=rnd(v[k],struct.unpack_from('<Q',b,p+8*k)[0])
            p+=32
        h=(rotl(v[0],1)+rotl(v[1],7)+rotl(v[2],12)+rotl(v[3],18))&M
        for x in v: h=merge(h,x)
    else: h=(seed+P5)&M
    h=(h+n)&M
    while p+8<=n:
        h^=rnd(0,struct.unpack_from('<Q',b,p)[0]); h=(rotl(h,27)*P1+P4)&M; p+=8
    if p+4<=n:
        h^=(struct.unpack_from('<I',b,p)[0]*P1)&M; h=(rotl(h,23)*P2+P3)&M; p+=4
    while p<n:
        h^=(b[p]*P5)&M; h=(rotl(h,11)*P1)&M; p+=1
    h^=h>>33; h=(h*P2)&M; h^=h>>29; h=(h*P3)&M; h^=h>>32
    return h
assert xxh64(b"")==0xEF46DB3751D8E999  # the reference test vector
f=open(sys.argv[1],'rb').read()
assert f[:8]==b'GRAFT\x89\r\n' and f[-8:]==b'GRAFTEND'
major,minor=struct.unpack_from('<HH',f,8)
io,il,hc=struct.unpack_from('<QQQ',f,len(f)-32)
assert io+il+32==len(f)
assert xxh64(f[:64]+f[io:io+il]+f[len(f)-32:len(f)-16])==hc, "header checksum"
idx=json.loads(f[io:io+il])
BITS={'BOOL':8,'F4':4,'F6_E2M3':6,'F6_E3M2':6,'U8':8,'I8':8,'F8_E5M2':8,'F8_E4M3':8,'F8_E8M0':8,'F8_E4M3FNUZ':8,'F8_E5M2FNUZ':8,'I16':16,'U16':16,'F16':16,'BF16':16,'I32':32,'U32':32,'F32':32,'C64':64,'F64':64,'I64':64,'U64':64,'C128':128}
byname={t['name']:t for t in idx['tensors']}
digests={}
for t in idx['tensors']:
    if 'alias_of' in t: continue
    n=1
    for d in t['shape']: n*=d
    size=n*BITS[t['dtype']]//8
    s=f[t['offset']:t['offset']+t['stored_length']]
    assert 'xxh64:%016x'%xxh64(s)==t['checksum'], t['name']
    end=t['offset']+t['stored_length']
    assert f[end:(end+63)//64*64]==bytes((end+63)//64*64-end)
    if 'compression' in t:
        c=t['compression']; raw=b''; p=0; w=c['shuffle']; B=c['block_size']
        for k,L in enumerate(c['blocks']):
            blk=s[p:p+L]; p+=L; rl=min(B,size-k*B)
            if L==rl: raw+=blk; continue
            sh=zlib.decompress(blk); assert len(sh)==rl; m=rl//w
            raw+=bytes(sh[j*m+i] for i in range(m) for j in range(w))
        assert 'xxh64:%016x'%xxh64(raw)==t['digest']
        digests[t['name']]=int(t['digest'][6:],16)
    else:
        assert size==len(s); digests[t['name']]=int(t['checksum'][6:],16)
h=b''
for name in sorted(byname):
    t=byname[name]; tgt=byname[t['alias_of']] if 'alias_of' in t else t
    h+=name.encode()+b'\0'+tgt['dtype'].encode()+b'\0'+','.join(map(str,tgt['shape'])).encode()+b'\0'
    if 'alias_of' in t: h+=('='+t['alias_of']).encode()+b'\0'
    h+=struct.pack('<Q',digests[tgt['name']])
assert 'xxh64:%016x'%xxh64(h)==idx['content_digest'], 'content digest'
print("ok", major, minor, len(idx['tensors']), "tensors; header checksum %016x"%hc)
