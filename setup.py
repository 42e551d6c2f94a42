from setuptools import find_packages, setup


def read_version():
    scope = {}
    with open('hprotopnet_mm/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='hprotopnet_mm',
    version=read_version(),
    description='Hierarchical ProtoPNet for video action recognition, '
    'an MMAction2 plugin',
    packages=find_packages(include=['hprotopnet_mm', 'hprotopnet_mm.*']),
    package_data={'hprotopnet_mm': ['hierarchy/files/*']},
    python_requires='>=3.10',
    # The exact, tested versions are in requirements/*.txt and are installed
    # by tools/setup_env.sh (OpenMMLab packages with --no-deps, see there).
    install_requires=[
        'torch>=2.0', 'mmaction2==1.2.0', 'mmengine>=0.10,<0.11',
        'geoopt>=0.5', 'decord>=0.6', 'numpy<2', 'setuptools<82',
        'importlib_metadata'
    ],
)
