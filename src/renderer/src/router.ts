import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router'
import HomeView from './views/HomeView.vue'
import RunsView from './views/RunsView.vue'
import RunDetailView from './views/RunDetailView.vue'
import BenchmarkView from './views/BenchmarkView.vue'
import ModelsView from './views/ModelsView.vue'
import ModelDetailView from './views/ModelDetailView.vue'
import ExpertsView from './views/ExpertsView.vue'
import ImageExpertsView from './views/ImageExpertsView.vue'
import PlaygroundView from './views/PlaygroundView.vue'
import ConvertView from './views/ConvertView.vue'
import FrontierView from './views/FrontierView.vue'
import PretrainView from './views/PretrainView.vue'
import FeaturesView from './views/FeaturesView.vue'
import FeatureListView from './views/FeatureListView.vue'
import FeatureSearchView from './views/FeatureSearchView.vue'
import FeatureUnitView from './views/FeatureUnitView.vue'
import ProbeView from './views/ProbeView.vue'
import ClassifiersView from './views/ClassifiersView.vue'
import PrivacyView from './views/PrivacyView.vue'

/** A page's entry in the sidebar: its icon (NavIcon's names), and whether it is still to come. */
export type NavIconName =
  'home' | 'models' | 'playground' | 'pretrain' | 'convert' | 'runs' | 'benchmark' | 'features' | 'classifiers' | 'privacy'

export interface NavMeta {
  /** NavIcon draws each of these. */
  icon: NavIconName
  soon?: boolean
  /** One line on what the page is for (the link's tooltip). */
  help?: string
}

// Adding a page: its view, its store, and one entry here; `meta.nav` puts it in the sidebar, in
// this order, labelled with its title.
const routes: RouteRecordRaw[] = [
  { path: '/', component: HomeView, meta: { title: 'Start', nav: { icon: 'home' } } },
  { path: '/models', component: ModelsView, meta: { title: 'Models', nav: { icon: 'models' } } },
  { path: '/models/:id(\\d+)', component: ModelDetailView, meta: { title: 'Model' }, props: (r) => ({ id: Number(r.params.id) }) },
  { path: '/models/:id(\\d+)/experts', component: ExpertsView, meta: { title: 'Experts' }, props: (r) => ({ id: Number(r.params.id) }) },
  { path: '/classifiers/experts', component: ImageExpertsView, meta: { title: 'Image experts' } },
  { path: '/playground', component: PlaygroundView, meta: { title: 'Playground', nav: { icon: 'playground' } } },
  { path: '/pretrain', component: PretrainView, meta: { title: 'Pre-train', nav: { icon: 'pretrain' } } },
  { path: '/convert', component: ConvertView, meta: { title: 'Convert', nav: { icon: 'convert' } } },
  { path: '/convert/frontier', component: FrontierView, meta: { title: 'Frontier' } },
  { path: '/runs', component: RunsView, meta: { title: 'Runs', nav: { icon: 'runs' } } },
  { path: '/runs/:id(\\d+)', component: RunDetailView, meta: { title: 'Run' }, props: (r) => ({ id: Number(r.params.id) }) },
  { path: '/benchmark', component: BenchmarkView, meta: { title: 'Benchmark', nav: { icon: 'benchmark' } } },
  { path: '/features', component: FeaturesView, meta: { title: 'Features', nav: { icon: 'features' } } },
  { path: '/classifiers', component: ClassifiersView, meta: { title: 'Classifiers', nav: { icon: 'classifiers' } } },
  { path: '/features/search', component: FeatureSearchView, meta: { title: 'Search units' } },
  {
    path: '/features/:runId(\\d+)',
    component: FeatureListView,
    meta: { title: 'Units' },
    props: (r) => ({ runId: Number(r.params.runId) }),
  },
  { path: '/features/probe', component: ProbeView, meta: { title: 'Probing' } },
  {
    path: '/features/:runId(\\d+)/units/:unit(\\d+)',
    component: FeatureUnitView,
    meta: { title: 'Unit' },
    props: (r) => ({ runId: Number(r.params.runId), unit: Number(r.params.unit) }),
  },
  {
    path: '/privacy',
    component: PrivacyView,
    meta: { title: 'Privacy', nav: { icon: 'privacy', help: 'Make a classifier uncertain on protected images, and certify it.' } },
  },
  { path: '/:rest(.*)*', redirect: '/' },
]

/** The sidebar's links, from the routes above. */
export const navItems = routes.flatMap((r) => {
  const nav = r.meta?.nav as NavMeta | undefined
  return nav ? [{ to: r.path, label: String(r.meta?.title ?? r.path), icon: nav.icon, soon: nav.soon === true, help: nav.help }] : []
})

export const router = createRouter({ history: createWebHashHistory(), routes })

router.afterEach((to) => {
  const title = typeof to.meta.title === 'string' ? to.meta.title : ''
  document.title = title ? `${title} — MxD Studio` : 'MxD Studio'
})
