"""Start-up cost of ``import mmtad_ext`` (or of a tool), with and without deferring transformers.

Each run is a fresh interpreter. ``eager`` imports ``transformers`` first, which makes
:func:`mmtad_ext.compat.defer_transformers` stand aside: exactly the imports of the package
without the shim (mmengine's optimizer builder imports transformers for ``Adafactor``, which
imports peft, and mmdet imports its BERT classes). ``deferred`` is a plain start. The two
alternate, ``--runs`` each; the table gives the median user+sys CPU seconds of the child
(``getrusage(RUSAGE_CHILDREN)``, less sensitive to a loaded machine than wall time) and the
median wall seconds.

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_import.py --runs 10
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_import.py --tool tools/train.py
"""
import argparse
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# A tool starts with `--help`: its imports run, argparse exits before any work.
CHILD = '''
import sys
if {eager}:
    import transformers
if {tool!r}:
    import runpy
    sys.argv = [{tool!r}, '--help']
    try:
        runpy.run_path({tool!r}, run_name='__main__')
    except SystemExit:
        pass
else:
    import mmtad_ext
sys.stderr.write('transformers imported: %s\\n' % ('transformers' in sys.modules))
'''


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--runs', type=int, default=10, help='runs of each way (alternating)')
    p.add_argument('--tool', default='', help='time `python TOOL --help` instead of the import')
    return p.parse_args()


def run_once(eager: bool, tool: str) -> tuple:
    """(user+sys CPU seconds, wall seconds, transformers imported) of one child interpreter."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    env.setdefault('OMP_NUM_THREADS', '1')
    code = CHILD.format(eager=eager, tool=osp.abspath(tool) if tool else '')
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=env, check=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, 'transformers imported: True' in proc.stderr


def main():
    args = parse_args()
    results = {'eager': [], 'deferred': []}
    for i in range(args.runs):
        for name in (('eager', 'deferred') if i % 2 == 0 else ('deferred', 'eager')):
            cpu, wall, imported = run_once(name == 'eager', args.tool)
            results[name].append((cpu, wall, imported))
            print(f'run {i + 1:2d} {name:8s} cpu {cpu:6.2f} s  wall {wall:6.2f} s  '
                  f'transformers imported: {imported}', flush=True)
    what = f'python {args.tool} --help' if args.tool else 'import mmtad_ext'
    print(f'\n{what}: median of {args.runs} runs each, alternating, load average '
          f'{os.getloadavg()[0]:.1f}')
    print(f'{"":10s}{"CPU s":>8s}{"wall s":>8s}  transformers imported')
    med = {}
    for name, rows in results.items():
        med[name] = [statistics.median(r[k] for r in rows) for k in (0, 1)]
        imported = sorted({r[2] for r in rows})
        print(f'{name:10s}{med[name][0]:8.2f}{med[name][1]:8.2f}  {imported}')
    cpu_cut = 1 - med['deferred'][0] / med['eager'][0]
    wall_cut = 1 - med['deferred'][1] / med['eager'][1]
    print(f'deferred / eager: CPU {1 - cpu_cut:.2f} (-{cpu_cut:.0%}), '
          f'wall {1 - wall_cut:.2f} (-{wall_cut:.0%})')


if __name__ == '__main__':
    main()
