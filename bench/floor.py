"""The floor: the fleet brought up by libvirt-python alone, in one process, sequentially.

The same work kvmcloud does for a cold fleet, without planning, quotas, placement or any
check: one isolated network with a DHCP host entry per server, then per server a qcow2
overlay on the image's base volume, a NoCloud seed (ISO 9660 built in memory with pycdlib
and uploaded as a volume), a domain definition and a start.

    floor.py PARAMS.json

PARAMS is what bench/run.py writes for every contender (see there).
"""

import io
import json
import sys
from xml.sax.saxutils import quoteattr

import libvirt
import pycdlib

URI = 'qemu:///system'


def network_xml(net, servers):
    hosts = ''.join('<host mac=%s name=%s ip=%s/>' % (quoteattr(s['mac']), quoteattr(s['name']), quoteattr(s['ip']))
                    for s in servers)
    return ("<network><name>{name}</name><bridge name='{bridge}'/>"
            "<ip address='{address}' netmask='{netmask}'><dhcp><range start='{dhcp_start}' end='{dhcp_end}'/>"
            "{hosts}</dhcp></ip></network>").format(hosts=hosts, **net)


def overlay_xml(name, size, base_path):
    return ("<volume type='file'><name>{name}</name><capacity unit='bytes'>{size}</capacity>"
            "<target><format type='qcow2'/></target>"
            "<backingStore><path>{base}</path><format type='qcow2'/></backingStore></volume>"
            ).format(name=name, size=size, base=base_path)


def seed_iso(server):
    files = {
        'meta-data': 'instance-id: %s\nlocal-hostname: %s\n' % (server['name'], server['name']),
        'user-data': '#cloud-config\n',
        'network-config': ('version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: "%s"\n'
                           '    dhcp4: true\n' % server['mac']),
    }
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge='1.09', vol_ident='cidata')
    for index, (name, text) in enumerate(sorted(files.items())):
        data = text.encode()
        iso.add_fp(io.BytesIO(data), len(data), '/FILE%d.;1' % index, rr_name=name, joliet_path='/' + name)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def upload(conn, pool, name, data):
    vol = pool.createXML("<volume type='file'><name>%s</name><capacity unit='bytes'>%d</capacity>"
                         "<target><format type='raw'/></target></volume>" % (name, len(data)), 0)
    stream = conn.newStream(0)
    vol.upload(stream, 0, len(data), 0)
    stream.sendAll(lambda _st, nbytes, buf: buf.read(nbytes), io.BytesIO(data))
    stream.finish()
    return vol


def domain_xml(params, server, root, seed):
    return ("<domain type='{virt}'><name>{name}</name>"
            "<memory unit='MiB'>{ram}</memory><vcpu>{vcpus}</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>"
            "<features><acpi/><apic/></features>{cpu}<on_crash>destroy</on_crash><devices>"
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{root}'/>"
            "<target dev='vda' bus='virtio'/></disk>"
            "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{seed}'/>"
            "<target dev='hdc' bus='ide'/><readonly/></disk>"
            "<interface type='network'><source network='{net}'/><mac address='{mac}'/><model type='virtio'/></interface>"
            "<serial type='pty'><log file='{console}/{name}.console.log' append='on'/><target port='0'/></serial>"
            "<console type='pty'><target type='serial' port='0'/></console>"
            "<memballoon model='virtio'/></devices></domain>"
            ).format(virt=params['virt_type'], name=server['name'], ram=params['ram_mb'], vcpus=params['vcpus'],
                     cpu="<cpu mode='host-model'/>" if params['virt_type'] == 'kvm' else '',
                     root=root.path(), seed=seed.path(), net=params['network']['name'], mac=server['mac'],
                     console=params['console_dir'])


def main(path):
    params = json.load(open(path, encoding='utf-8'))
    conn = libvirt.open(URI)
    try:
        net = conn.networkDefineXML(network_xml(params['network'], params['servers']))
        net.create()
        pool = conn.storagePoolLookupByName(params['pool'])
        base = conn.storageVolLookupByPath(params['base_image'])
        size = max(base.info()[1], params['disk_gb'] * 1024 ** 3)
        for server in params['servers']:
            root = pool.createXML(overlay_xml(params['volume_prefix'] + server['name'] + '.qcow2', size,
                                              params['base_image']), 0)
            seed = upload(conn, pool, params['volume_prefix'] + server['name'] + '-seed.iso', seed_iso(server))
            conn.defineXML(domain_xml(params, server, root, seed)).create()
    finally:
        conn.close()


if __name__ == '__main__':
    main(sys.argv[1])
