import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router'
import HomeView from './views/HomeView.vue'
import RunsView from './views/RunsView.vue'
import RunDetailView from './views/RunDetailView.vue'
import BenchmarkView from './views/BenchmarkView.vue'
import ComingView from './views/ComingView.vue'
import ModelsView from './views/ModelsView.vue'
import ModelDetailView from './views/ModelDetailView.vue'
import ExpertsView from './views/ExpertsView.vue'
import PlaygroundView from './views/PlaygroundView.vue'
import ConvertView from './views/ConvertView.vue'
import FrontierView from './views/FrontierView.vue'
import PretrainView from './views/PretrainView.vue'

const routes: RouteRecordRaw[] = [
  { path: '/', component: HomeView, meta: { title: 'Start' } },
  { path: '/models', component: ModelsView, meta: { title: 'Models' } },
  { path: '/models/:id(\\d+)', component: ModelDetailView, meta: { title: 'Model' }, props: (r) => ({ id: Number(r.params.id) }) },
  { path: '/models/:id(\\d+)/experts', component: ExpertsView, meta: { title: 'Experts' }, props: (r) => ({ id: Number(r.params.id) }) },
  { path: '/playground', component: PlaygroundView, meta: { title: 'Playground' } },
  { path: '/pretrain', component: PretrainView, meta: { title: 'Pre-train' } },
  { path: '/convert', component: ConvertView, meta: { title: 'Convert' } },
  { path: '/convert/frontier', component: FrontierView, meta: { title: 'Frontier' } },
  { path: '/runs', component: RunsView, meta: { title: 'Runs' } },
  { path: '/runs/:id(\\d+)', component: RunDetailView, meta: { title: 'Run' }, props: (r) => ({ id: Number(r.params.id) }) },
  { path: '/benchmark', component: BenchmarkView, meta: { title: 'Benchmark' } },
  {
    path: '/features',
    component: ComingView,
    meta: { title: 'Features' },
    props: {
      title: 'Features',
      summary: 'See what each expert of a converted layer does.',
      points: [
        'Browse the experts: the tokens and contexts that activate each one most.',
        'Search experts by example text and label them.',
        'Steer generation: turn an expert up or down and watch the output change.',
      ],
    },
  },
  {
    path: '/privacy',
    component: ComingView,
    meta: { title: 'Privacy' },
    props: {
      title: 'Privacy',
      summary: 'Certify that a model knows nothing about protected instances.',
      points: [
        'Mark instances (people, records, documents) as protected.',
        'Edit the experts responsible so the model’s prediction on them is maximally uncertain.',
        'Issue a certificate with the measured uncertainty and the accuracy kept on everything else.',
      ],
    },
  },
  { path: '/:rest(.*)*', redirect: '/' },
]

export const router = createRouter({ history: createWebHashHistory(), routes })

router.afterEach((to) => {
  const title = typeof to.meta.title === 'string' ? to.meta.title : ''
  document.title = title ? `${title} — MxD Studio` : 'MxD Studio'
})
