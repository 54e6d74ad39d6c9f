"""The app's colours, named once. Stylesheets use the brand colour through Quasar's `var(--q-primary)`."""

PRIMARY = '#4f46e5'
